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
		o := Outcome{Worker: name, Verb: c.Verb}
		w := d.w.Worker(name)
		if w != nil {
			o.Before = *w.Clone()
		}
		sp := d.st.spec(w)
		if sp != nil {
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
				o.Event, o.Err = d.restart(name, w, c)
			case SendSignal:
				o.Event, o.Err = d.signal(name, c.Signal, c.Actor,
					fmt.Sprintf("SIG%s requested by %s", events.SignalName(c.Signal), c.Actor))
			case Reload:
				switch {
				case !w.Live():
					// A reload changes a running worker; it never starts one.
					o.Err = notRunning(w)
				case sp.ReloadSignal != 0:
					o.Verb = SendSignal
					o.Event, o.Err = d.signal(name, sp.ReloadSignal, c.Actor,
						fmt.Sprintf("reload requested by %s: SIG%s (its reload_signal)", c.Actor, events.SignalName(sp.ReloadSignal)))
				default:
					o.Verb = Restart
					o.Event, o.Err = d.restart(name, w, c)
				}
			default:
				o.Err = fmt.Errorf("core: unknown verb %v", c.Verb)
			}
		}
		d.res.Outcomes = append(d.res.Outcomes, o)
	}
}

// restart is an operator's restart of w (or a reload of a worker without
// a reload_signal).
func (d *decision) restart(name string, w *fsm.Worker, c Command) (*events.Event, error) {
	if !c.NoDeps && w.Live() {
		// What depends on it restarts with it, and starts again
		// once it holds again.
		for _, dn := range d.runningDependents(name) {
			_, _ = d.record(events.Event{Type: events.RestartRequested, Worker: dn, Actor: c.Actor,
				Cause: fmt.Sprintf("restart requested by %s: it depends on %s, which restarts", c.Actor, name)})
		}
	}
	cause := "restart requested by " + c.Actor
	if c.Verb == Reload {
		cause = "reload requested by " + c.Actor + ": it has no reload_signal, so it restarts"
	}
	return d.start(name, events.RestartRequested, c.Actor, cause)
}

// ValidSignal reports whether sig is a signal a program can be sent: 1-31
// and the real-time signals 34-64 (0 sends nothing; the C library keeps 32
// and 33). Every signal a program can be sent may be asked for, KILL and
// STOP too: what follows is recorded like any other end (or nothing, for
// STOP), and why names the signal that caused it.
func ValidSignal(sig int) bool { return (sig >= 1 && sig <= 31) || (sig >= 34 && sig <= 64) }

func notRunning(w *fsm.Worker) error {
	if w.Live() {
		return fmt.Errorf("%w: %s is %s and its process is not spawned yet", ErrNotRunning, w.Name, w.State)
	}
	return fmt.Errorf("%w: %s is %s", ErrNotRunning, w.Name, w.State)
}

// signal records an operator's signal to the worker's current incarnation
// and sends it once that is durable. The effect carries the incarnation,
// so the signal can never reach a later one: if that incarnation is gone
// when the effect runs, the outcome says so and nothing is sent.
func (d *decision) signal(name string, sig int, actor, cause string) (*events.Event, error) {
	if !ValidSignal(sig) {
		return nil, fmt.Errorf("%w: %d (1-31 or 34-64)", ErrBadSignal, sig)
	}
	w := d.w.Worker(name)
	if !w.Live() || w.PID == 0 {
		return nil, notRunning(w)
	}
	e, err := d.add(events.Event{Type: events.SignalRequested, Worker: name, Incarnation: w.Incarnation, Actor: actor,
		Cause: cause, Details: events.Details{Signal: sig, PID: w.PID}})
	if err != nil {
		return nil, err
	}
	d.effect(Effect{Kind: Signal, Worker: name, Inc: w.Incarnation, Signal: sig, Actor: actor, Ref: e.Seq})
	return e, nil
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
