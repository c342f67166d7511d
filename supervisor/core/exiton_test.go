package core

import (
	"strings"
	"testing"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm/policy"
)

func never(s *Spec) { s.Policy.Restart = policy.Never }

// load brings the workers up under an exit_on mode.
func (m *machine) runningExitOn(mode ExitOn, specs ...*Spec) {
	m.t.Helper()
	m.step(Load{Specs: specs, Hash: "c1", Actor: "test", First: true, ExitOn: mode})
	for _, sp := range specs {
		inc := m.st.World.Worker(sp.Name).Incarnation
		m.step(Spawned{Worker: sp.Name, Inc: inc, PID: 100 + int(inc), StartTicks: 7, BootID: "b"})
		m.step(TimerFired{Kind: StartTimeout, Worker: sp.Name, Inc: inc, Delay: sp.StartTimeout})
	}
}

func exitEffect(t *testing.T, res Result) (Effect, bool) {
	t.Helper()
	for _, f := range res.Effects {
		if f.Kind == ExitDaemon {
			return f, true
		}
	}
	return Effect{}, false
}

var (
	status3 = Exit{Code: 3, HasCode: true, Desc: "exit status 3"}
	status0 = Exit{Code: 0, HasCode: true, Desc: "exit status 0"}
	killed  = Exit{Code: -1, Signal: 9, Desc: "signal KILL"}
)

// any-failure: a failure the policy will not restart stops the daemon with
// the worker's status, recorded with the reason; a failure it restarts
// does not, nor does a clean exit.
func TestExitOnAnyFailure(t *testing.T) {
	m := newMachine(t)
	job, web := spec("job", never), spec("web")
	m.runningExitOn(ExitAnyFailure, job, web)
	res := m.step(Exited{Worker: "web", Inc: 1, PID: 102, Exit: status3})
	if _, ok := exitEffect(t, res); ok {
		t.Fatalf("a failure the policy restarts stopped the daemon: %s", types(res.Events))
	}
	res = m.step(Exited{Worker: "job", Inc: 1, PID: 101, Exit: status3})
	expect(t, "job fails for good", types(res.Events), "exited daemon_stopping stop_requested")
	f, ok := exitEffect(t, res)
	if !ok || f.Code != 3 || f.Worker != "job" {
		t.Fatalf("exit effect %+v (found %v), want status 3 for job", f, ok)
	}
	stop := res.Events[1]
	if stop.ExitCode == nil || *stop.ExitCode != 3 || stop.Policy != ExitPolicy || stop.Worker != "job" ||
		!strings.Contains(stop.Cause, `exit_on = "any-failure"`) {
		t.Errorf("daemon_stopping %+v: want the status, the policy and the reason recorded", stop)
	}
	if !m.st.World.Closing {
		t.Error("the world is not closing")
	}
	// The rest stops as in a shutdown, and nothing is decided twice: a
	// signal's shutdown now records nothing more.
	res = m.step(Shutdown{Cause: "signal terminated"})
	expect(t, "shutdown after exit_on", types(res.Events), "")
	if w := m.st.World.Worker("web"); w.Policy.Pending {
		t.Error("web's scheduled restart was not cancelled")
	}
}

func TestExitOnAnyFailureIgnoresSuccessAndStops(t *testing.T) {
	m := newMachine(t)
	a, b := spec("a", never), spec("b", never)
	m.runningExitOn(ExitAnyFailure, a, b)
	res := m.step(Exited{Worker: "a", Inc: 1, PID: 101, Exit: status0})
	if _, ok := exitEffect(t, res); ok {
		t.Fatal("a clean exit stopped the daemon under any-failure")
	}
	m.step(Command{Verb: Stop, Workers: []string{"b"}, Actor: "op"})
	res = m.step(Exited{Worker: "b", Inc: 1, PID: 102, Exit: Exit{Code: -1, Signal: 15, Desc: "signal TERM"}})
	if _, ok := exitEffect(t, res); ok {
		t.Fatal("an operator's stop counted as a failure")
	}
}

// any-exit: a clean exit the policy does not restart stops the daemon with
// 0; a signal is 128 + its number; a breaker that opens gives up.
func TestExitOnAnyExit(t *testing.T) {
	m := newMachine(t)
	m.runningExitOn(ExitAnyExit, spec("a", never))
	res := m.step(Exited{Worker: "a", Inc: 1, PID: 101, Exit: status0})
	if f, ok := exitEffect(t, res); !ok || f.Code != 0 {
		t.Fatalf("exit effect %+v (found %v), want status 0", f, ok)
	}

	m = newMachine(t)
	m.runningExitOn(ExitAnyExit, spec("a", never))
	res = m.step(Exited{Worker: "a", Inc: 1, PID: 101, Exit: killed})
	if f, ok := exitEffect(t, res); !ok || f.Code != 128+9 {
		t.Fatalf("exit effect %+v (found %v), want status 137", f, ok)
	}

	m = newMachine(t)
	crashy := spec("crashy", func(s *Spec) { s.Policy.BreakerMax, s.Policy.BreakerWindow = 1, 60e9 })
	m.runningExitOn(ExitAnyExit, crashy)
	found := false
	for inc := events.Incarnation(1); inc < 5 && !found; inc++ {
		res = m.step(Exited{Worker: "crashy", Inc: inc, PID: 100 + int(inc), Exit: status3})
		if strings.Contains(types(res.Events), "breaker_opened") {
			f, ok := exitEffect(t, res)
			if !ok || f.Code != 3 {
				t.Fatalf("breaker opened: exit effect %+v (found %v), want status 3", f, ok)
			}
			found = true
			break
		}
		if _, ok := exitEffect(t, res); ok {
			t.Fatalf("incarnation %d: the daemon stopped while the policy restarts", inc)
		}
		m.step(TimerFired{Kind: RestartDue, Worker: "crashy", Inc: inc})
		m.step(Spawned{Worker: "crashy", Inc: inc + 1, PID: 101 + int(inc)})
	}
	if !found {
		t.Fatal("the breaker never opened")
	}
}

// all-done: the daemon stops once every worker has ended for good, with
// the status of a worker that failed, else 0; one-shots complete.
func TestExitOnAllDone(t *testing.T) {
	oneshot := func(s *Spec) { s.Oneshot = true; s.Policy.Restart = policy.OnFailure; s.Digest += "-oneshot" }
	m := newMachine(t)
	a, b := spec("a", oneshot), spec("b", oneshot)
	m.runningExitOn(ExitAllDone, a, b)
	res := m.step(Exited{Worker: "a", Inc: 1, PID: 101, Exit: status0})
	if _, ok := exitEffect(t, res); ok {
		t.Fatal("stopped while b still runs")
	}
	res = m.step(Exited{Worker: "b", Inc: 1, PID: 102, Exit: status0})
	expect(t, "last one completes", types(res.Events), "exited daemon_stopping")
	if f, ok := exitEffect(t, res); !ok || f.Code != 0 {
		t.Fatalf("exit effect %+v (found %v), want status 0", f, ok)
	}

	m = newMachine(t)
	a, c := spec("a", never), spec("c", oneshot)
	m.runningExitOn(ExitAllDone, a, c)
	m.step(Exited{Worker: "a", Inc: 1, PID: 101, Exit: status3})
	res = m.step(Exited{Worker: "c", Inc: 1, PID: 102, Exit: status0})
	if f, ok := exitEffect(t, res); !ok || f.Code != 3 {
		t.Fatalf("exit effect %+v (found %v), want a's status 3", f, ok)
	}

	// A worker that the policy restarts is not done.
	m = newMachine(t)
	m.runningExitOn(ExitAllDone, spec("a"))
	res = m.step(Exited{Worker: "a", Inc: 1, PID: 101, Exit: status0})
	if _, ok := exitEffect(t, res); ok {
		t.Fatal("stopped while a restarts")
	}
}

// never (the default) never stops the daemon.
func TestExitOnNever(t *testing.T) {
	m := newMachine(t)
	m.running(spec("a", never))
	res := m.step(Exited{Worker: "a", Inc: 1, PID: 101, Exit: status3})
	if _, ok := exitEffect(t, res); ok || m.st.World.Closing {
		t.Fatal("stopped without exit_on")
	}
}

// The decision is folded from the log: a daemon that crashed after it
// does not decide it again, and its successor's shutdown is recorded.
func TestExitOnAfterCrash(t *testing.T) {
	m := newMachine(t)
	a := spec("a", never)
	m.runningExitOn(ExitAnyExit, a)
	m.step(Exited{Worker: "a", Inc: 1, PID: 101, Exit: status3})
	m.crash(-1)
	res := m.step(Load{Specs: []*Spec{a}, Hash: "c1", Actor: "daemon", First: true, ExitOn: ExitAnyExit})
	if _, ok := exitEffect(t, res); ok {
		t.Fatal("a restarted daemon decided the exit again from an old end")
	}
}
