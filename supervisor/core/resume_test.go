package core

import (
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
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

// ends steps the end of the worker's current incarnation.
func (m *machine) ends(name string, x Exit) Result {
	m.t.Helper()
	w := m.st.World.Worker(name)
	return m.step(Exited{Worker: name, Inc: w.Incarnation, PID: w.PID, Exit: x})
}

var (
	termed = Exit{Signal: 15, Desc: "signal TERM"}
	exit0  = Exit{Code: 0, HasCode: true, Desc: "exit status 0"}
)

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
	m.ends("stopped", termed)
	m.ends("edited", termed)
	m.ends("done", exit0)
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
			m.ends(e.Worker, termed)
		}
	}
	m.crash(-1)
	res = m.step(Load{Specs: []*Spec{spec("added"), done, edited2, stopped}, Hash: "c2", Actor: "daemon", First: true})
	expect(t, "started after a shutdown", startsIn(res), "added done edited stopped")
	if strings.Contains(res.Events[0].Cause, "ended without shutting down") {
		t.Errorf("daemon_started after a shutdown says %q", res.Events[0].Cause)
	}
}

// The first daemon on a new log starts every autostart worker, and does
// not claim to take over from a daemon before it.
func TestTheFirstDaemonIsAFreshStart(t *testing.T) {
	m := newMachine(t)
	res := m.step(Load{Specs: []*Spec{spec("a"), spec("b")}, Hash: "c1", Actor: "daemon", First: true})
	expect(t, "started", startsIn(res), "a b")
	if c := res.Events[0].Cause; strings.Contains(c, "the last daemon") {
		t.Errorf("the first daemon_started of a log says %q", c)
	}
}

// A log recovered by `tend recover` may end between the two events of one
// decision: a restart's exit recorded, its start not. The next daemon
// carries out the restart decided, as the crashed one would have.
func TestARestartCutInTwoIsCarriedOut(t *testing.T) {
	m := newMachine(t)
	sp := spec("w", func(s *Spec) { s.Autostart = false })
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "test", First: true})
	m.step(Command{Verb: Start, Workers: []string{"w"}, Actor: "op"})
	m.spawn("w")
	m.step(Command{Verb: Restart, Workers: []string{"w"}, Actor: "op"})
	m.ends("w", termed)
	cut := -1
	for i, e := range m.log {
		if e.Type == events.Exited {
			cut = i + 1
		}
	}
	if cut < 0 || cut == len(m.log) {
		t.Fatalf("no start after the restart's exit to cut off: %s", types(m.log))
	}
	m.crash(cut)
	res := m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	expect(t, "started by the next daemon", startsIn(res), "w")
	for _, e := range res.Events {
		if e.Type == events.StartRequested && e.Actor != "op" {
			t.Errorf("the restart's start is by %q, want the operator who asked for the restart", e.Actor)
		}
	}
}

// A shutdown that leaves the workers running (leave_running, to upgrade
// tend) hands them over: the next daemon adopts them and leaves a worker
// an operator stopped stopped, as after a crash. The flag lives in the
// fold, so a replay and a snapshot of it say the same.
func TestLeaveRunningHandsOver(t *testing.T) {
	m := newMachine(t)
	up, stopped := spec("up"), spec("stopped")
	m.running(stopped, up)
	m.step(Command{Verb: Stop, Workers: []string{"stopped"}, Actor: "op"})
	m.ends("stopped", termed)
	res := m.step(Shutdown{LeaveRunning: true, Cause: "SIGTERM"})
	expect(t, "a shutdown leaving the workers running", types(res.Events), "daemon_stopping")
	if res.Events[0].Policy != fsm.LeaveRunning {
		t.Fatalf("daemon_stopping records policy %q, want %q", res.Events[0].Policy, fsm.LeaveRunning)
	}
	m.crash(-1)
	if !m.st.World.LeftRunning {
		t.Fatal("the replay lost that the workers were left running")
	}
	b, err := m.st.World.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if sw, err := fsm.UnmarshalSnapshot(b); err != nil || !sw.LeftRunning {
		t.Fatalf("a snapshot lost that the workers were left running: %v", err)
	}
	res = m.step(Load{Specs: []*Spec{stopped, up}, Hash: "c1", Actor: "daemon", First: true})
	expect(t, "started after a hand-over", startsIn(res), "")
	if !strings.Contains(res.Events[0].Cause, "left its workers running") {
		t.Errorf("daemon_started says %q", res.Events[0].Cause)
	}
	if m.st.World.LeftRunning {
		t.Error("daemon_started must end the hand-over")
	}
}
