package core

import (
	"fmt"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// command judges an operator's verb on each worker it names, in order.
// Each worker's outcome stands alone: an unknown name is refused without
// refusing the others.
func (d *decision) command(c Command) {
	for _, name := range c.Workers {
		o := Outcome{Worker: name}
		w := d.w.Worker(name)
		if w != nil {
			o.Before = *w.Clone()
		}
		if sp := d.st.spec(w); sp != nil {
			o.Oneshot = sp.Oneshot
		}
		if !d.st.configured(w) {
			o.Err = fmt.Errorf("%w: %q", ErrNoWorker, name)
		} else {
			switch c.Verb {
			case Start:
				o.Event, o.Err = d.start(name, events.StartRequested, c.Actor, "start requested by "+c.Actor)
			case Stop:
				o.Event, o.Err = d.stop(name, c.Actor, "stop requested by "+c.Actor, c.NoDeps, 0)
			case Restart:
				if !c.NoDeps && w.Live() {
					// What depends on it restarts with it, and starts again
					// once it holds again.
					for _, dn := range d.runningDependents(name) {
						_, _ = d.record(events.Event{Type: events.RestartRequested, Worker: dn, Actor: c.Actor,
							Cause: fmt.Sprintf("restart requested by %s: it depends on %s, which restarts", c.Actor, name)})
					}
				}
				o.Event, o.Err = d.start(name, events.RestartRequested, c.Actor, "restart requested by "+c.Actor)
			default:
				o.Err = fmt.Errorf("core: unknown verb %v", c.Verb)
			}
		}
		d.res.Outcomes = append(d.res.Outcomes, o)
	}
}

// Target says when a command on a worker is over, from the worker's state
// just before it was judged (Outcome.Before): ok when its goal is reached, done
// when it is settled without reaching it (a start that died). Every front
// end waits with it, so "is this stop done?" has one answer.
//
// A one-shot's start is done when it has completed (or failed).
func Target(v Verb, before fsm.Worker, oneshot bool) func(*fsm.Worker) (ok, done bool) {
	if v == Stop {
		return func(w *fsm.Worker) (bool, bool) {
			ok := stopped(w) && !w.Policy.Pending && !w.Flags.RestartAfter && w.Waiting == ""
			return ok, ok
		}
	}
	// A start or restart is done when a newer incarnation than the one it
	// found runs, or has ended again.
	base := before.Incarnation
	if v == Start && before.Live() {
		base = before.Incarnation - 1 // already up: the current one counts
	}
	return func(w *fsm.Worker) (bool, bool) {
		if w.Waiting == "start" && w.WaitBlocked != "" {
			// It waits for a requirement that cannot come up on its own:
			// settled, and the wait's cause says why.
			return false, true
		}
		if w.Incarnation <= base {
			return false, false
		}
		if oneshot && holds(w, Completed) {
			return true, true
		}
		if w.State == events.Running && !oneshot {
			return true, true
		}
		return false, stopped(w) && !w.Policy.Pending && !w.Flags.RestartAfter && w.Waiting == ""
	}
}
