package core

import (
	"fmt"
	"time"

	"github.com/tendhq/tend/events"
)

// This file is readiness: Starting → Running when the worker says so (the
// systemd notification protocol, a newline on a descriptor, the first
// passing health check) or, by default, once it has stayed up for its start
// timeout; and a failed start when it does not within its ready_timeout.

// readyEffects are the effects of a spawn, by the worker's readiness rule;
// e is the spawned event. The default rule records running at once when
// there is no start timeout.
func (d *decision) readyEffects(e *events.Event, sp *Spec) error {
	d.effect(Effect{Kind: StartMonitors, Worker: e.Worker, Inc: e.Incarnation, Digest: sp.Digest})
	if sp.Ready.Kind != ReadyAfterStart {
		if t := sp.Ready.Timeout; t > 0 {
			d.effect(Effect{Kind: ArmTimer, Worker: e.Worker, Inc: e.Incarnation, Timer: ReadyTimeout, Delay: t, At: e.Time.Add(t)})
		}
		return nil
	}
	if sp.StartTimeout > 0 {
		d.effect(Effect{Kind: ArmTimer, Worker: e.Worker, Inc: e.Incarnation, Timer: StartTimeout, Delay: sp.StartTimeout, At: e.Time.Add(sp.StartTimeout)})
		return nil
	}
	_, err := d.add(events.Event{Type: events.Ready, Worker: e.Worker, Incarnation: e.Incarnation, Actor: events.ActorDaemon,
		Cause: "running (no start timeout)"})
	return err
}

// ready records that incarnation inc said it is ready.
func (d *decision) ready(worker string, inc events.Incarnation, actor, cause string) error {
	_, err := d.add(events.Event{Type: events.Ready, Worker: worker, Incarnation: inc, Actor: actor, Cause: cause})
	return err
}

func (d *decision) notified(in Notified) error {
	if in.Foreign {
		// Not a process of the incarnation: recorded as stale (incarnation
		// 0 is older than any), so it changes nothing.
		_, err := d.add(events.Event{Type: events.Notified, Worker: in.Worker, Actor: events.ActorNotify,
			Cause:   fmt.Sprintf("message from pid %d, which is not a process of incarnation %d: ignored", in.PID, in.Inc),
			Details: events.Details{PID: in.PID}})
		return err
	}
	note := func(kind, cause string, dt events.Details) error {
		dt.Policy = kind
		if dt.PID == 0 {
			dt.PID = in.PID
		}
		_, err := d.add(events.Event{Type: events.Notified, Worker: in.Worker, Incarnation: in.Inc, Actor: events.ActorNotify,
			Cause: cause, Details: dt})
		return err
	}
	if in.Status != nil {
		if err := note("STATUS", "status: "+*in.Status, events.Details{Text: *in.Status}); err != nil {
			return err
		}
	}
	if in.MainPID != 0 {
		if err := note("MAINPID", fmt.Sprintf("main process is now pid %d", in.MainPID),
			events.Details{PID: in.MainPID, StartTicks: in.MainTicks, BootID: in.MainBootID}); err != nil {
			return err
		}
	}
	if in.Reloading {
		if err := note("RELOADING", "reloading its configuration", events.Details{}); err != nil {
			return err
		}
	}
	if in.Stopping {
		if err := note("STOPPING", "stopping on its own", events.Details{}); err != nil {
			return err
		}
	}
	if in.Extend > 0 {
		if w := d.w.Worker(in.Worker); w != nil && w.Incarnation == in.Inc && w.State == events.Starting {
			if err := note("EXTEND_TIMEOUT", fmt.Sprintf("asks %s more to be ready", in.Extend), events.Details{Delay: in.Extend}); err != nil {
				return err
			}
			d.effect(Effect{Kind: ArmTimer, Worker: in.Worker, Inc: in.Inc, Timer: ReadyTimeout, Delay: in.Extend, At: d.now.Add(in.Extend)})
		}
	}
	if in.Ready {
		return d.ready(in.Worker, in.Inc, events.ActorNotify, fmt.Sprintf("ready: READY=1 from pid %d", in.PID))
	}
	return nil
}

// notReady: the ready timeout of incarnation inc passed.
func (d *decision) notReady(in TimerFired) error {
	w := d.w.Worker(in.Worker)
	if w.State != events.Starting || w.ReadyBy.After(d.now) {
		return nil // ready by now, or it asked for more time (a later timer)
	}
	e, err := d.add(events.Event{Type: events.NotReady, Worker: in.Worker, Incarnation: in.Inc, Actor: events.ActorDaemon,
		Cause:   fmt.Sprintf("not ready within %s (ready_timeout): stopped, a failed start", in.Delay),
		Details: events.Details{Delay: in.Delay}})
	if err != nil || e.Stale {
		return err
	}
	sp := d.st.spec(w)
	sig, timeout := stopParams(w, sp)
	d.beginStop(w, in.Inc, sp, sig, timeout, e.Time)
	return nil
}

// watchdog: the worker stopped pinging. It takes a health failure's path.
func (d *decision) watchdog(in WatchdogExpired) error {
	last := "none ever came"
	if !in.LastPing.IsZero() {
		last = "the last at " + in.LastPing.UTC().Format(time.RFC3339Nano)
	}
	cause := fmt.Sprintf("watchdog: no WATCHDOG=1 for %s (%s)", in.Period, last)
	e, err := d.add(events.Event{Type: events.HealthFailed, Worker: in.Worker, Incarnation: in.Inc, Actor: events.ActorWatchdog, Cause: cause})
	if err != nil || e.Stale {
		return err
	}
	if w := d.w.Worker(in.Worker); w.State == events.Starting || w.State == events.Running {
		_, err = d.record(events.Event{Type: events.RestartRequested, Worker: in.Worker, Actor: events.ActorWatchdog,
			Cause: "restart: " + cause})
	}
	return err
}
