package core

import (
	"fmt"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// Step decides what in means, at now: it judges in against st.World, folds
// the events it decides into st.World and returns them with the effects
// they imply. rand draws the backoff jitter in [0,1); it is called only
// when the restart policy decides, and what it drew is recorded in the
// event, so a replay never draws again.
//
// An error is the judgement of the input as a whole (an observation about
// an incarnation newer than the world knows, an unknown input); the events
// decided before it are still in the Result and must be appended. A
// command's refusal of one worker is in its Outcome, not an error.
func Step(st *State, in Input, now time.Time, rand func() float64) (Result, error) {
	d := &decision{st: st, w: st.World, now: now.UTC(), rand: rand}
	if d.now.Before(d.w.Time) {
		// Events get non-decreasing times, so the log can be searched by
		// time even when the wall clock steps back.
		d.now = d.w.Time
	}
	var err error
	switch in := in.(type) {
	case Command:
		d.command(in)
	case Load:
		err = d.load(in)
	case Scale:
		err = d.scale(in)
	case Shutdown:
		err = d.shutdown(in)
	case Refused:
		_, err = d.add(events.Event{Type: events.CommandRefused, Actor: in.Actor, Cause: in.Cause})
	case NotifyFailed:
		_, err = d.add(events.Event{Type: events.NotifyFailed, Actor: events.ActorAlert, Details: events.Details{Attempt: in.Attempts, Policy: in.Notifier},
			Cause: fmt.Sprintf("alert %q about seq %d (%s) not delivered after %d attempts: %s", in.Notifier, in.Seq, in.About, in.Attempts, in.Err)})
	case Recovered:
		err = d.recovered(in)
	case Spawned:
		err = d.spawned(in)
	case SpawnFailed:
		err = d.spawnFailed(in)
	case LeaderExited:
		err = d.leaderExited(in)
	case Exited:
		err = d.exited(in)
	case Signalled:
		err = d.signalled(in)
	case StraysFound:
		_, err = d.add(events.Event{Type: events.StrayFound, Worker: in.Worker, Incarnation: in.Inc, Actor: events.ActorDaemon,
			Cause: fmt.Sprintf("%d process(es) of incarnation %d %s", in.N, in.Inc, in.What)})
	case HealthReport:
		err = d.health(in)
	case Violation:
		err = d.violation(in)
	case TimerFired:
		err = d.timer(in)
	case Notified:
		err = d.notified(in)
	case FDReady:
		err = d.ready(in.Worker, in.Inc, "readiness", fmt.Sprintf("ready: wrote a newline to descriptor %d", in.FD))
	case WatchdogExpired:
		err = d.watchdog(in)
	case HookExited:
		err = d.hookExited(in)
	default:
		err = fmt.Errorf("core: unknown input %T", in)
	}
	// What waited for the workers this decision changed goes through now,
	// in the same decision: a dependent is spawned in the decision that
	// records that its condition holds.
	d.settle(0)
	return d.res, err
}

// decision collects one Step's events and effects.
type decision struct {
	st   *State
	w    *fsm.World
	now  time.Time
	rand func() float64
	res  Result
}

// add judges e against the pending world and folds it in. It returns the
// event as it will be recorded (seq, transition, staleness), or the
// judgement's error, in which case nothing was added.
func (d *decision) add(e events.Event) (*events.Event, error) {
	e.Time = d.now
	if err := d.w.Decide(&e); err != nil {
		return nil, err
	}
	ev := &e
	ev.Seq = d.w.Seq + 1
	if err := d.w.Apply(ev); err != nil {
		// Decide and Apply judge with the same function; disagreement is
		// a bug in this program, not a condition to handle.
		panic(fmt.Sprintf("core: event decided but not applicable: %v", err))
	}
	d.res.Events = append(d.res.Events, ev)
	if ev.Changes() && ev.To == events.Running {
		// However it came to be running, its post_start runs now.
		d.running(ev)
	}
	return ev, nil
}

func (d *decision) effect(f Effect) { d.res.Effects = append(d.res.Effects, f) }

// record adds an event and the effects its transition implies. A stop
// records the signal and timeout it is decided with, so that it can be
// carried on after a crash from the log alone.
func (d *decision) record(e events.Event) (*events.Event, error) {
	if e.Type == events.StopRequested || e.Type == events.RestartRequested {
		if sp := d.st.spec(d.w.Worker(e.Worker)); sp != nil {
			probe := e
			if d.w.Decide(&probe) == nil && !probe.Stale && probe.To == events.Stopping {
				e.Signal, e.Delay = sp.StopSignal, sp.StopTimeout
			}
		}
	}
	ev, err := d.add(e)
	if err != nil {
		return nil, err
	}
	d.effectsFor(ev)
	return ev, nil
}

// effectsFor adds the effects a recorded transition implies: a start
// spawns, a stop signals and arms the stop timeout, a kill kills.
func (d *decision) effectsFor(e *events.Event) {
	if e.Stale {
		return
	}
	w := d.w.Worker(e.Worker)
	sp := d.st.spec(w)
	if sp == nil {
		return
	}
	// A broken variant: a stop that changes no state (one that cancels the
	// restart that was to follow a stopping worker) signals again.
	// gofail: var mutantSignalAgain struct{}
	// d.mutantSignalAgain(e, sp)
	switch {
	case e.To == events.Starting:
		d.startEffects(e, sp)
	case e.Type == events.KillSent:
		d.effect(Effect{Kind: Kill, Worker: e.Worker, Inc: e.Incarnation})
	case e.To == events.Stopping:
		d.beginStop(w, e.Incarnation, sp, sp.StopSignal, sp.StopTimeout, e.Time)
	}
}

// stopEffects: the stop signal, and SIGKILL once the stop timeout has
// passed since from.
func (d *decision) stopEffects(worker string, inc events.Incarnation, sig int, timeout time.Duration, from time.Time) {
	d.effect(Effect{Kind: Signal, Worker: worker, Inc: inc, Signal: sig})
	d.effect(Effect{Kind: ArmTimer, Worker: worker, Inc: inc, Timer: StopTimeout, Delay: timeout, At: from.Add(timeout)})
}

// Defaults for a stop that must be carried on with neither its recorded
// parameters (a log from before they were recorded) nor the worker's
// settings (removed from the configuration while no daemon ran).
const (
	defaultStopSignal  = 15 // SIGTERM
	defaultStopTimeout = 10 * time.Second
)

// stopParams are the signal and timeout of w's stop: as recorded with it,
// else the settings in force, else the defaults.
func stopParams(w *fsm.Worker, sp *Spec) (int, time.Duration) {
	sig, timeout := w.Flags.StopSignal, w.Flags.StopTimeout
	if sig == 0 && sp != nil {
		sig = sp.StopSignal
	}
	if timeout == 0 && sp != nil {
		timeout = sp.StopTimeout
	}
	if sig == 0 {
		sig = defaultStopSignal
	}
	if timeout == 0 {
		timeout = defaultStopTimeout
	}
	return sig, timeout
}

// start records a start (or a restart of a stopped worker), closing an
// open breaker first when someone other than the policy asks. A start that
// makes a new incarnation starts what it depends on first, and waits until
// that holds.
func (d *decision) start(name string, typ events.Type, actor, cause string) (*events.Event, error) {
	return d.startDepth(name, typ, actor, cause, 0)
}

func (d *decision) startDepth(name string, typ events.Type, actor, cause string, depth int) (*events.Event, error) {
	return d.startEvent(events.Event{Type: typ, Worker: name, Actor: actor, Cause: cause}, depth)
}

func (d *decision) startEvent(e events.Event, depth int) (*events.Event, error) {
	if d.w.Closing {
		return nil, ErrClosed
	}
	name, actor := e.Worker, e.Actor
	w := d.w.Worker(name)
	if w != nil && w.Policy.BreakerOpen && !w.Live() && actor != events.ActorPolicy {
		if _, err := d.add(events.Event{Type: events.BreakerClosed, Worker: name, Actor: actor,
			Cause: "circuit breaker reset by " + actor}); err != nil {
			return nil, err
		}
	}
	if w != nil && stopped(w) {
		if sp := d.st.spec(w); sp != nil && len(sp.Deps) > 0 {
			if unmet := d.startDeps(name, sp, actor, depth); len(unmet) > 0 {
				return d.waitToStart(name, unmet, actor)
			}
		}
	}
	return d.record(e)
}
