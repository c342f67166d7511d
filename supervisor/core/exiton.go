package core

import (
	"fmt"
	"sort"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// ExitOn says when the daemon stops every worker and exits on its own: the
// daemon of a container or a CI job, whose life is its workers'.
type ExitOn string

const (
	// ExitNever: only a signal or a shutdown command ends the daemon.
	// The default.
	ExitNever ExitOn = "never"
	// ExitAnyExit: a worker ended on its own and will not be started
	// again (its restart policy gave up, or does not restart that exit; a
	// one-shot completed).
	ExitAnyExit ExitOn = "any-exit"
	// ExitAnyFailure: as ExitAnyExit, for an end that is a failure (a
	// status other than 0, a signal, a spawn that failed, an end whose
	// status is unknown).
	ExitAnyFailure ExitOn = "any-failure"
	// ExitAllDone: no worker runs or will run on its own: each is stopped,
	// with no restart scheduled, no start waiting and no schedule.
	ExitAllDone ExitOn = "all-done"
)

// ExitOnModes lists the modes, for the configuration's error messages.
func ExitOnModes() []ExitOn { return []ExitOn{ExitNever, ExitAnyExit, ExitAnyFailure, ExitAllDone} }

// ExitPolicy is the value of daemon_stopping's Policy detail when the
// daemon stops because of its exit_on setting; the event's ExitCode is the
// status the daemon exits with.
const ExitPolicy = "exit_on"

// ExitStatus is the status a container runtime reads for an end: the
// exit status, 128 + the signal that killed it, 127 for a spawn that
// failed, 1 when the status is unknown (the end was seen by a daemon that
// had adopted the process, or it died while no daemon ran). nil is 0.
func ExitStatus(x *fsm.Exit) int {
	switch {
	case x == nil:
		return 0
	case x.Code != nil:
		return *x.Code & 0xff
	case x.Signal != 0:
		return 128 + x.Signal
	case x.SpawnFailed:
		return 127
	}
	return 1
}

// failed reports whether an end is a failure, as ExitAnyFailure reads it.
func failedExit(x *fsm.Exit) bool { return x != nil && ExitStatus(x) != 0 }

// exitOn judges, once the end of name's incarnation is recorded and what
// follows it is decided, whether the daemon's exit_on setting makes the
// daemon stop. asked: the end was asked for (an operator's stop), which
// only all-done counts. It records daemon_stopping, with the status to exit
// with, and stops every worker as a shutdown does; the ExitDaemon effect tells
// the shell to exit once they have stopped.
func (d *decision) exitOn(name string, asked bool) error {
	if d.w.Closing {
		return nil
	}
	w := d.w.Worker(name)
	sp := d.st.spec(w)
	if w == nil || sp == nil {
		return nil
	}
	var why string
	code := ExitStatus(w.LastExit)
	switch d.st.ExitOn {
	case ExitAnyExit, ExitAnyFailure:
		if asked || !endedForGood(w, sp) || d.st.ExitOn == ExitAnyFailure && !failedExit(w.LastExit) {
			return nil
		}
		why = fmt.Sprintf("%s ended (%s) and will not be started again", name, lastCause(w))
	case ExitAllDone:
		if !d.allDone() {
			return nil
		}
		code, why = d.doneStatus()
	default:
		return nil
	}
	cause := fmt.Sprintf("exit_on = %q: %s: stopping every worker; the daemon exits with status %d", string(d.st.ExitOn), why, code)
	if _, err := d.add(events.Event{Type: events.DaemonStopping, Worker: name, Incarnation: w.Incarnation, Actor: events.ActorDaemon,
		Cause: cause, Details: events.Details{ExitCode: events.IntPtr(code), Policy: ExitPolicy}}); err != nil {
		return err
	}
	if err := d.stopAll("daemon shutting down: " + cause); err != nil {
		return err
	}
	d.effect(Effect{Kind: ExitDaemon, Code: code, Worker: name, Inc: w.Incarnation})
	return nil
}

// endedForGood reports whether a stopped worker will not start again on
// its own: no restart is scheduled, no breaker cooldown will close its
// breaker, nothing waits to start it and no schedule runs it.
func endedForGood(w *fsm.Worker, sp *Spec) bool {
	switch {
	case w.Live(), w.Policy.Pending, w.Waiting != "", w.Flags.RestartAfter, sp.Schedule != nil:
		return false
	case w.Policy.BreakerOpen && sp.Policy.BreakerCooldown > 0:
		return false
	}
	return true
}

// allDone reports whether every configured worker has ended for good.
func (d *decision) allDone() bool {
	for _, n := range d.w.Names(false) {
		w := d.w.Worker(n)
		sp := d.st.spec(w)
		if sp == nil {
			continue
		}
		if !endedForGood(w, sp) {
			return false
		}
	}
	return true
}

// doneStatus is what all-done exits with: the status of the latest end of
// a worker that failed on its own (an operator's stop is no failure), else
// 0.
func (d *decision) doneStatus() (int, string) {
	names := d.w.Names(false)
	sort.Strings(names)
	var last *fsm.Worker
	for _, n := range names {
		w := d.w.Worker(n)
		if d.st.spec(w) == nil || w.Flags.StopAsked || !failedExit(w.LastExit) {
			continue
		}
		if last == nil || w.LastExit.At.After(last.LastExit.At) {
			last = w
		}
	}
	if last == nil {
		return 0, "every worker is done"
	}
	return ExitStatus(last.LastExit), fmt.Sprintf("every worker is done; %s failed (%s)", last.Name, lastCause(last))
}

func lastCause(w *fsm.Worker) string {
	if w.LastExit == nil {
		return "never ran"
	}
	return w.LastExit.Cause
}
