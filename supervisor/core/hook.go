package core

import (
	"fmt"
	"slices"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// This file is hooks: commands a worker's settings run around its life.
//
//	pre_start     before the spawn; failing (or timing out) is a failed
//	              start, and a stop while it runs stops it (the stop signal
//	              goes to its process group, SIGKILL after stop_timeout)
//	post_start    once the worker is Running; failing stops the worker as a
//	              failed start (systemd's ExecStartPost); a stop cancels it
//	stop_command  instead of the stop signal; the stop timeout still runs
//	              and ends in SIGKILL; when it ends with the worker still
//	              there, the stop signal follows (systemd's ExecStop)
//	post_stop     after every end of an incarnation, whatever ended it;
//	              the next start waits for it
//
// Each is decided by a hook_started event and ended by a hook_exited that
// names it (Ref); the fold keeps the ones in between (fsm.Worker.Hooks), so
// recovery knows what ran when the daemon stopped.

// startEffects are what a new incarnation's start does: its pre_start
// hook, or the spawn.
func (d *decision) startEffects(e *events.Event, sp *Spec) {
	if _, ok := sp.hook(fsm.HookPreStart); ok {
		d.runHook(fsm.HookPreStart, e.Worker, e.Incarnation, sp)
		return
	}
	d.effect(Effect{Kind: Spawn, Worker: e.Worker, Inc: e.Incarnation, Digest: sp.Digest})
}

// runHook records that hook kind runs for incarnation inc, and runs it once
// that is durable.
func (d *decision) runHook(kind, worker string, inc events.Incarnation, sp *Spec) {
	timeout, _ := sp.hook(kind)
	e, err := d.add(events.Event{Type: events.HookStarted, Worker: worker, Incarnation: inc, Actor: events.ActorDaemon,
		Cause:   fmt.Sprintf("%s hook of incarnation %d runs (at most %s)", kind, inc, timeout),
		Details: events.Details{Policy: kind, Delay: timeout}})
	if err != nil || e.Stale {
		return
	}
	d.effect(Effect{Kind: RunHook, Worker: worker, Inc: inc, Hook: kind, Ref: e.Seq, Digest: sp.Digest, Delay: timeout})
}

// rerunHook runs again a hook whose hook_started is durable and whose end
// was never seen: its outcome answers the same hook_started.
func (d *decision) rerunHook(h fsm.HookRun, worker string, sp *Spec) {
	timeout, _ := sp.hook(h.Kind)
	d.effect(Effect{Kind: RunHook, Worker: worker, Inc: h.Inc, Hook: h.Kind, Ref: h.Seq, Digest: sp.Digest, Delay: timeout})
}

// cancelHooks kills what still runs of w's hooks of the given kinds for
// incarnation inc.
func (d *decision) cancelHooks(w *fsm.Worker, inc events.Incarnation, kinds ...string) {
	for _, h := range w.Hooks {
		if h.Inc == inc && slices.Contains(kinds, h.Kind) {
			d.effect(Effect{Kind: CancelHook, Worker: w.Name, Inc: inc, Hook: h.Kind, Ref: h.Seq})
		}
	}
}

// beginStop starts the stop of incarnation inc: its stop_command, or the
// stop signal, and SIGKILL once the stop timeout has passed since from. A
// post_start still running is cancelled: the start it belongs to is over.
func (d *decision) beginStop(w *fsm.Worker, inc events.Incarnation, sp *Spec, sig int, timeout time.Duration, from time.Time) {
	d.cancelHooks(w, inc, fsm.HookPostStart)
	if _, ok := sp.hook(fsm.HookStopCommand); ok && w.PID != 0 {
		d.runHook(fsm.HookStopCommand, w.Name, inc, sp)
		d.effect(Effect{Kind: ArmTimer, Worker: w.Name, Inc: inc, Timer: StopTimeout, Delay: timeout, At: from.Add(timeout)})
		return
	}
	d.stopEffects(w.Name, inc, sig, timeout, from)
}

// endHooks is what the end of incarnation inc does to hooks: what still
// runs for it is cancelled, and post_stop runs.
func (d *decision) endHooks(w *fsm.Worker, inc events.Incarnation, sp *Spec) {
	d.cancelHooks(w, inc, fsm.HookPostStart, fsm.HookStopCommand)
	if _, ok := sp.hook(fsm.HookPostStop); ok {
		d.runHook(fsm.HookPostStop, w.Name, inc, sp)
	}
}

// running runs post_start for a worker that has just become Running.
func (d *decision) running(e *events.Event) {
	w := d.w.Worker(e.Worker)
	if sp := d.st.spec(w); sp != nil {
		if _, ok := sp.hook(fsm.HookPostStart); ok {
			d.runHook(fsm.HookPostStart, e.Worker, e.Incarnation, sp)
		}
	}
}

// hookExited records the end of a hook and what follows it.
func (d *decision) hookExited(in HookExited) error {
	dt := events.Details{Policy: in.Kind, PID: in.PID, Signal: in.Exit.Signal, Errno: in.Errno, Delay: in.Ran,
		Text: in.Output, Command: in.Command, Ref: in.Ref}
	if in.Exit.HasCode {
		dt.ExitCode = events.IntPtr(in.Exit.Code)
	}
	e, err := d.add(events.Event{Type: events.HookExited, Worker: in.Worker, Incarnation: in.Inc, Actor: events.ActorHook,
		Cause: hookCause(in), Details: dt})
	if err != nil || e.Stale {
		return err
	}
	w := d.w.Worker(in.Worker)
	sp := d.st.spec(w)
	switch {
	case e.To == events.Stopped || e.To == events.Killed:
		// The start ended with its pre_start: a failed start, unless it
		// was stopped.
		return d.afterEnd(in.Worker, e, in.Exit)
	case e.To == events.Stopping:
		// post_start failed: the worker is stopped, a failed start.
		sig, timeout := stopParams(w, sp)
		d.beginStop(w, in.Inc, sp, sig, timeout, e.Time)
		return nil
	case w.Incarnation != in.Inc || sp == nil:
		return nil
	case in.Kind == fsm.HookPreStart && w.State == events.Starting && w.PID == 0 && !fsm.HookFailed(e):
		d.effect(Effect{Kind: Spawn, Worker: in.Worker, Inc: in.Inc, Digest: sp.Digest})
	case in.Kind == fsm.HookStopCommand && w.State == events.Stopping && w.PID != 0 && !w.Flags.KillSent:
		// What the stop command left running gets the stop signal; the
		// stop timeout armed with the stop still bounds it.
		sig, _ := stopParams(w, sp)
		d.effect(Effect{Kind: Signal, Worker: in.Worker, Inc: in.Inc, Signal: sig})
	}
	return nil
}

// hookCause says in words how a hook ended.
func hookCause(in HookExited) string {
	what := fmt.Sprintf("%s hook of incarnation %d", in.Kind, in.Inc)
	ran := in.Ran.Round(time.Millisecond)
	if in.Ran < time.Millisecond {
		ran = in.Ran.Round(time.Microsecond)
	}
	switch {
	case in.Lost:
		return what + ": the daemon stopped while it ran; it is not run again, its outcome is unknown"
	case in.Err != "":
		return what + " could not be started: " + in.Err
	case in.TimedOut:
		return fmt.Sprintf("%s timed out after %s: killed with its process group", what, ran)
	case in.Cancelled:
		return fmt.Sprintf("%s cancelled after %s: what it ran for is over; killed with its process group", what, ran)
	case in.Exit.HasCode && in.Exit.Code == 0:
		return fmt.Sprintf("%s succeeded in %s", what, ran)
	}
	return fmt.Sprintf("%s failed: %s after %s", what, in.Exit.Desc, ran)
}
