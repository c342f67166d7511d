package core

import (
	"fmt"
	"time"

	"github.com/tendhq/tend/events"
)

// This file holds what monitors and timers report. A report about an
// incarnation that has ended, or a timer whose reason has passed, records
// nothing new: what made it moot (a stop, a start, a new incarnation) is
// already in the log.

func (d *decision) health(in HealthReport) error {
	if in.First {
		// The first pass of the check is news only to a worker whose
		// readiness it is.
		if sp := d.st.SpecOf(in.Worker); sp != nil && sp.Ready.Kind == ReadyHealth {
			return d.ready(in.Worker, in.Inc, events.ActorHealth, "ready: health check passes: "+in.Detail)
		}
		return nil
	}
	typ, cause := events.HealthRecovered, "health check passes again: "+in.Detail
	if !in.Healthy {
		typ, cause = events.HealthFailed, fmt.Sprintf("health check failed %d times: %s", in.Consecutive, in.Detail)
	}
	e, err := d.add(events.Event{Type: typ, Worker: in.Worker, Incarnation: in.Inc, Actor: events.ActorHealth, Cause: cause,
		Details: events.Details{Attempt: in.Consecutive}})
	if err != nil || e.Stale || in.Healthy {
		return err
	}
	if w := d.w.Worker(in.Worker); w.State == events.Starting || w.State == events.Running {
		_, err = d.record(events.Event{Type: events.RestartRequested, Worker: in.Worker, Actor: events.ActorHealth,
			Cause: "restart: " + cause})
	}
	return err
}

// Limit policies, as the limits package names them.
const (
	limitRestart = "restart"
	limitStop    = "stop"
	limitKill    = "kill"
)

func (d *decision) violation(in Violation) error {
	actor, cause := events.ActorLimits, fmt.Sprintf("%s; policy %s", in.Detail, in.Policy)
	if in.Kernel {
		actor, cause = events.ActorKernel, in.Detail
	}
	e, err := d.add(events.Event{Type: events.LimitViolated, Worker: in.Worker, Incarnation: in.Inc, Actor: actor,
		Cause:   cause,
		Details: events.Details{Resource: in.Resource, Measured: in.Measured, Limit: in.Limit, Policy: in.Policy}})
	if err != nil || e.Stale || in.Kernel || !d.w.Worker(in.Worker).Live() {
		return err
	}
	switch in.Policy {
	case limitRestart:
		_, err = d.record(events.Event{Type: events.RestartRequested, Worker: in.Worker, Actor: events.ActorLimits, Cause: "restart: " + in.Detail})
	case limitStop:
		_, err = d.record(events.Event{Type: events.StopRequested, Worker: in.Worker, Actor: events.ActorLimits, Cause: "stop: " + in.Detail})
	case limitKill:
		_, err = d.record(events.Event{Type: events.KillSent, Worker: in.Worker, Incarnation: in.Inc, Actor: events.ActorLimits,
			Cause: "SIGKILL to the process group: " + in.Detail, Details: events.Details{Signal: 9}})
	}
	return err
}

func (d *decision) timer(in TimerFired) error {
	w := d.w.Worker(in.Worker)
	if w == nil {
		return nil
	}
	if in.Kind == ScheduleDue {
		return d.due(in) // a schedule belongs to the worker, not to an incarnation
	}
	if w.Incarnation != in.Inc {
		return nil
	}
	switch in.Kind {
	case ReadyTimeout:
		return d.notReady(in)
	case StartTimeout:
		if w.State != events.Starting {
			return nil
		}
		_, err := d.add(events.Event{Type: events.Ready, Worker: in.Worker, Incarnation: in.Inc, Actor: events.ActorDaemon,
			Cause: fmt.Sprintf("up for %s (start_timeout): running", in.Delay)})
		return err
	case StopTimeout:
		if w.State != events.Stopping || w.Flags.KillSent {
			return nil
		}
		_, err := d.record(events.Event{Type: events.KillSent, Worker: in.Worker, Incarnation: in.Inc, Actor: events.ActorDaemon,
			Cause:   fmt.Sprintf("still running %s after the stop signal (stop_timeout): SIGKILL to the process group", in.Delay),
			Details: events.Details{Signal: 9}})
		return err
	case RestartDue:
		if !w.Policy.Pending || w.Live() || d.w.Closing {
			return nil
		}
		cause := fmt.Sprintf("restarting after %s backoff", in.Delay.Round(time.Millisecond))
		if w.LastExit != nil {
			cause += " (" + w.LastExit.Cause + ")"
		}
		_, err := d.start(in.Worker, events.StartRequested, events.ActorPolicy, cause)
		return err
	case Cooldown:
		if !w.Policy.BreakerOpen || w.Live() || w.Flags.StopAsked || d.w.Closing {
			return nil
		}
		if _, err := d.add(events.Event{Type: events.BreakerClosed, Worker: in.Worker, Actor: events.ActorPolicy,
			Cause: fmt.Sprintf("circuit breaker cooldown of %s elapsed", in.Delay)}); err != nil {
			return err
		}
		_, err := d.start(in.Worker, events.StartRequested, events.ActorPolicy, "starting again after the breaker's cooldown")
		return err
	}
	return fmt.Errorf("core: unknown timer %v", in.Kind)
}
