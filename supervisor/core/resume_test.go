package core

import (
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm/policy"
)

// startsIn names the workers a step asked to start, in order.
func startsIn(res Result) string {
	var out []string
	for _, e := range res.Events {
		if e.Type == events.StartRequested && !e.Stale {
			out = append(out, e.Worker)
		}
	}
	return strings.Join(out, " ")
}

// A daemon that died without shutting down is resumed, not restarted from
// scratch: a worker an operator stopped and a job that ended for good stay
// stopped when the next daemon loads the same settings. autostart still
// starts a worker added, or whose settings changed, while no daemon ran.
// After a shutdown the next start is a fresh one, and autostart starts
// every worker that is down.
func TestACrashDoesNotUndoWhatTheDaemonDecided(t *testing.T) {
	m := newMachine(t)
	onFailure := func(s *Spec) { s.Policy.Restart = policy.OnFailure }
	stopped, done, edited := spec("stopped"), spec("done", onFailure), spec("edited")
	m.running(stopped, done, edited)
	m.step(Command{Verb: Stop, Workers: []string{"stopped", "edited"}, Actor: "op"})
	for _, name := range []string{"stopped", "edited"} {
		w := m.st.World.Worker(name)
		m.step(Exited{Worker: name, Inc: w.Incarnation, PID: w.PID, Exit: Exit{Signal: 15, Desc: "signal TERM"}})
	}
	w := m.st.World.Worker("done")
	m.step(Exited{Worker: "done", Inc: w.Incarnation, PID: w.PID, Exit: Exit{Code: 0, HasCode: true, Desc: "exit status 0"}})
	for _, name := range []string{"stopped", "done", "edited"} {
		if got := m.worker(name); !strings.HasPrefix(got, "Stopped") {
			t.Fatalf("%s is %s before the crash, want Stopped", name, got)
		}
	}

	// SIGKILL: no daemon_stopping. While it is down, edited's settings
	// change and a worker is added.
	m.crash(-1)
	edited2 := spec("edited", func(s *Spec) { s.StopTimeout = 3 * time.Second })
	res := m.step(Load{Specs: []*Spec{spec("added"), done, edited2, stopped}, Hash: "c2", Actor: "daemon", First: true})
	expect(t, "started after a crash", startsIn(res), "added edited")
	if !strings.Contains(res.Events[0].Cause, "ended without shutting down") {
		t.Errorf("daemon_started says %q, want it to say the last daemon ended without shutting down", res.Events[0].Cause)
	}
	m.step(Recovered{Workers: map[string]Found{}})
	for _, name := range []string{"stopped", "done"} {
		if got := m.worker(name); !strings.HasPrefix(got, "Stopped") {
			t.Errorf("%s is %s after the crash, want Stopped as the last daemon left it", name, got)
		}
	}

	// A shutdown, then a start: a fresh one.
	res = m.step(Shutdown{Cause: "SIGTERM"})
	for _, e := range res.Events {
		if e.Type == events.StopRequested {
			w := m.st.World.Worker(e.Worker)
			m.step(Exited{Worker: e.Worker, Inc: w.Incarnation, PID: w.PID, Exit: Exit{Signal: 15, Desc: "signal TERM"}})
		}
	}
	m.crash(-1)
	res = m.step(Load{Specs: []*Spec{spec("added"), done, edited2, stopped}, Hash: "c2", Actor: "daemon", First: true})
	expect(t, "started after a shutdown", startsIn(res), "added done edited stopped")
	if strings.Contains(res.Events[0].Cause, "ended without shutting down") {
		t.Errorf("daemon_started after a shutdown says %q", res.Events[0].Cause)
	}
}

// The first daemon on a new log starts every autostart worker.
func TestTheFirstDaemonIsAFreshStart(t *testing.T) {
	m := newMachine(t)
	res := m.step(Load{Specs: []*Spec{spec("a"), spec("b")}, Hash: "c1", Actor: "daemon", First: true})
	expect(t, "started", startsIn(res), "a b")
}
