package core

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

func hooked(name string, kinds ...string) *Spec {
	return spec(name, func(s *Spec) {
		s.Hooks = map[string]time.Duration{}
		for _, k := range kinds {
			s.Hooks[k] = 5 * time.Second
			s.Digest += "-" + k
		}
		s.Policy.BackoffInitial, s.Policy.BackoffMax = 0, 0
	})
}

var (
	ok     = Exit{Code: 0, HasCode: true, Desc: "exit status 0"}
	failed = Exit{Code: 3, HasCode: true, Desc: "exit status 3"}
)

// hookRef is the seq of the pending hook kind of w's incarnation inc.
func (m *machine) hookRef(w, kind string, inc events.Incarnation) events.Seq {
	m.t.Helper()
	for _, h := range m.st.World.Worker(w).Hooks {
		if h.Kind == kind && h.Inc == inc {
			return h.Seq
		}
	}
	m.t.Fatalf("no %s pending for %s/%d: %+v", kind, w, inc, m.st.World.Worker(w).Hooks)
	return 0
}

func (m *machine) hookEnds(w, kind string, inc events.Incarnation, x Exit) Result {
	m.t.Helper()
	return m.step(HookExited{Worker: w, Inc: inc, Kind: kind, Ref: m.hookRef(w, kind, inc), Exit: x, Ran: time.Second, Output: "tail"})
}

// pre_start runs before the spawn, and the spawn waits for its success.
func TestPreStartComesBeforeTheSpawn(t *testing.T) {
	m := newMachine(t)
	sp := hooked("w", fsm.HookPreStart)
	res := m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "test", First: true})
	expect(t, "start", types(res.Events)+" / "+kinds(res.Effects), "daemon_started config_loaded worker_added start_requested hook_started / hook prepare")
	if f := res.Effects[0]; f.Hook != fsm.HookPreStart || f.Inc != 1 || f.Ref != res.Events[4].Seq || f.Delay != 5*time.Second {
		t.Errorf("hook effect %+v", f)
	}
	res = m.hookEnds("w", fsm.HookPreStart, 1, ok)
	expect(t, "pre_start ok", types(res.Events)+" / "+kinds(res.Effects), "hook_exited / spawn")
	if e := res.Events[0]; e.Ref == 0 || e.Text != "tail" || e.Delay != time.Second || *e.ExitCode != 0 || e.To != 0 {
		t.Errorf("hook_exited %+v", e)
	}
}

// A failing pre_start is a failed start: the restart policy decides, as
// for a spawn that failed, and post_stop runs after it.
func TestFailingPreStartIsAFailedStart(t *testing.T) {
	m := newMachine(t)
	sp := hooked("w", fsm.HookPreStart, fsm.HookPostStop)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "test", First: true})
	res := m.hookEnds("w", fsm.HookPreStart, 1, failed)
	expect(t, "pre_start fails", types(res.Events)+" / "+kinds(res.Effects),
		"hook_exited hook_started restart_scheduled start_requested hook_started / hook hook")
	if e := res.Events[0]; e.From != events.Starting || e.To != events.Stopped {
		t.Errorf("hook_exited %s→%s", e.From, e.To)
	}
	if f := res.Effects[0]; f.Hook != fsm.HookPostStop || f.Inc != 1 {
		t.Errorf("first effect %+v, want post_stop of incarnation 1 before the next start", f)
	}
	if f := res.Effects[1]; f.Hook != fsm.HookPreStart || f.Inc != 2 {
		t.Errorf("second effect %+v, want pre_start of incarnation 2", f)
	}
	w := m.st.World.Worker("w")
	if w.LastExit == nil || !w.LastExit.SpawnFailed || w.Policy.Streak != 1 {
		t.Errorf("after a failed pre_start: %+v %+v", w.Policy, w.LastExit)
	}
}

// A stop while pre_start runs signals the hook (the effect finds it by the
// incarnation) and ends the start when the hook ends: nothing is spawned.
func TestStopDuringPreStart(t *testing.T) {
	m := newMachine(t)
	sp := hooked("w", fsm.HookPreStart)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "test", First: true})
	res := m.step(Command{Verb: Stop, Workers: []string{"w"}, Actor: "op"})
	expect(t, "stop", types(res.Events)+" / "+kinds(res.Effects), "stop_requested / signal timer:stop-timeout")
	res = m.hookEnds("w", fsm.HookPreStart, 1, Exit{Code: -1, Signal: 15, Desc: "signal TERM"})
	expect(t, "the hook ends", types(res.Events)+" / "+kinds(res.Effects), "hook_exited / ")
	if w := m.st.World.Worker("w"); w.State != events.Stopped || w.Policy.Pending {
		t.Errorf("after the stop: %+v", w)
	}
}

// post_start runs once the worker is running; its failure stops the
// worker, and that end is a failed start.
func TestPostStart(t *testing.T) {
	m := newMachine(t)
	sp := hooked("w", fsm.HookPostStart)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "test", First: true})
	m.step(Spawned{Worker: "w", Inc: 1, PID: 101})
	res := m.step(TimerFired{Kind: StartTimeout, Worker: "w", Inc: 1, Delay: sp.StartTimeout})
	expect(t, "running", types(res.Events)+" / "+kinds(res.Effects), "running hook_started / hook")
	res = m.hookEnds("w", fsm.HookPostStart, 1, failed)
	expect(t, "post_start fails", types(res.Events)+" / "+kinds(res.Effects), "hook_exited / signal timer:stop-timeout")
	if e := res.Events[0]; e.From != events.Running || e.To != events.Stopping {
		t.Errorf("hook_exited %s→%s", e.From, e.To)
	}
	res = m.step(Exited{Worker: "w", Inc: 1, PID: 101, Exit: Exit{Code: 0, HasCode: true, Desc: "exit status 0"}})
	expect(t, "it stops", types(res.Events), "exited restart_scheduled start_requested")
	if w := m.st.World.Worker("w"); w.Policy.Streak != 1 {
		t.Errorf("a failed post_start did not count as a failure: %+v", w.Policy)
	}

	// A stop while post_start runs cancels it.
	m.step(Spawned{Worker: "w", Inc: 2, PID: 102})
	m.step(TimerFired{Kind: StartTimeout, Worker: "w", Inc: 2, Delay: sp.StartTimeout})
	res = m.step(Command{Verb: Stop, Workers: []string{"w"}, Actor: "op"})
	expect(t, "stop during post_start", kinds(res.Effects), "cancel-hook signal timer:stop-timeout")
}

// stop_command runs instead of the stop signal; the stop timeout still
// ends in SIGKILL; when it ends with the worker still there, the stop
// signal follows.
func TestStopCommand(t *testing.T) {
	m := newMachine(t)
	sp := hooked("w", fsm.HookStopCommand)
	m.running(sp)
	res := m.step(Command{Verb: Stop, Workers: []string{"w"}, Actor: "op"})
	expect(t, "stop", types(res.Events)+" / "+kinds(res.Effects), "stop_requested hook_started / hook timer:stop-timeout")
	res = m.hookEnds("w", fsm.HookStopCommand, 1, ok)
	expect(t, "the stop command ends, the worker is still there", types(res.Events)+" / "+kinds(res.Effects), "hook_exited / signal")
	if res.Effects[0].Signal != int(syscall.SIGTERM) {
		t.Errorf("signal %d", res.Effects[0].Signal)
	}
	res = m.step(TimerFired{Kind: StopTimeout, Worker: "w", Inc: 1, Delay: sp.StopTimeout})
	expect(t, "stop timeout", types(res.Events)+" / "+kinds(res.Effects), "killed / kill")

	// A stop command still running when the worker ends is cancelled.
	m2 := newMachine(t)
	m2.running(sp)
	m2.step(Command{Verb: Stop, Workers: []string{"w"}, Actor: "op"})
	res = m2.step(Exited{Worker: "w", Inc: 1, PID: 101, Exit: ok})
	expect(t, "ended during its stop command", types(res.Events)+" / "+kinds(res.Effects), "exited / cancel-hook")
}

// post_stop runs after every end, before the next start.
func TestPostStopComesBeforeTheNextStart(t *testing.T) {
	m := newMachine(t)
	sp := hooked("w", fsm.HookPostStop)
	m.running(sp)
	res := m.step(Exited{Worker: "w", Inc: 1, PID: 101, Exit: failed})
	expect(t, "crash", types(res.Events)+" / "+kinds(res.Effects), "exited hook_started restart_scheduled start_requested / hook spawn")
	if f := res.Effects[0]; f.Hook != fsm.HookPostStop || f.Inc != 1 {
		t.Errorf("post_stop effect %+v", f)
	}
	// Its end, after incarnation 2 started, changes nothing of it.
	res = m.hookEnds("w", fsm.HookPostStop, 1, ok)
	if e := res.Events[0]; e.Stale || e.To != 0 || m.st.World.Worker("w").Incarnation != 2 {
		t.Errorf("post_stop's end: %+v", e)
	}
}

// The daemon dies while pre_start runs: recovery runs it again (recovery
// killed what was left of the old one, and records that), and the spawn
// follows its success. Had it succeeded before the crash, the spawn is
// made without running it again.
func TestPreStartInterruptedByACrashRunsAgain(t *testing.T) {
	m := newMachine(t)
	sp := hooked("w", fsm.HookPreStart)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "test", First: true})
	ref := m.hookRef("w", fsm.HookPreStart, 1)
	m.crash(-1)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	res := m.step(Recovered{Workers: map[string]Found{"w": {Inc: 1}},
		Hooks: []HookFound{{Worker: "w", Kind: fsm.HookPreStart, Inc: 1, PID: 555}}, Seq: m.replayed})
	expect(t, "recovery", types(res.Events)+" / "+kinds(res.Effects), "stray_found / hook")
	if f := res.Effects[0]; f.Hook != fsm.HookPreStart || f.Ref != ref || f.Inc != 1 {
		t.Errorf("rerun %+v, want pre_start answering seq %d", f, ref)
	}
	res = m.hookEnds("w", fsm.HookPreStart, 1, ok)
	expect(t, "rerun ok", types(res.Events)+" / "+kinds(res.Effects), "hook_exited / spawn")

	// Crash after its success, before the spawn was reported.
	m.crash(-1)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	res = m.step(Recovered{Workers: map[string]Found{"w": {Inc: 1}}, Seq: m.replayed})
	expect(t, "recovery after pre_start's success", types(res.Events)+" / "+kinds(res.Effects), " / spawn")
}

// Hooks whose purpose is over when the daemon comes back are recorded as
// ended, outcome unknown; a post_stop runs again.
func TestHooksAfterACrash(t *testing.T) {
	m := newMachine(t)
	sp := hooked("w", fsm.HookPostStart, fsm.HookPostStop, fsm.HookStopCommand)
	m.running(sp) // post_start runs
	m.crash(-1)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	res := m.step(Recovered{Workers: map[string]Found{"w": {Inc: 1, Alive: true, PID: 101, StartTicks: 7, BootID: "b"}}, Seq: m.replayed})
	expect(t, "adopted while post_start ran", types(res.Events)+" / "+kinds(res.Effects), "adopted / watch monitors hook")
	m.hookEnds("w", fsm.HookPostStart, 1, ok)

	m.step(Command{Verb: Stop, Workers: []string{"w"}, Actor: "op"}) // stop_command runs
	m.crash(-1)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	res = m.step(Recovered{Workers: map[string]Found{"w": {Inc: 1, Alive: true, PID: 101, StartTicks: 7, BootID: "b"}}, Seq: m.replayed})
	expect(t, "adopted while its stop command ran", types(res.Events)+" / "+kinds(res.Effects), "adopted / watch hook timer:stop-timeout")

	// It ends; post_stop runs; the daemon dies; the worker is gone, and
	// post_stop runs again.
	m.step(Exited{Worker: "w", Inc: 1, PID: 101, Exit: ok})
	m.crash(-1)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	res = m.step(Recovered{Workers: map[string]Found{}, Seq: m.replayed})
	expect(t, "post_stop and stop_command pending", types(res.Events)+" / "+kinds(res.Effects), "hook_exited / hook")
	if e := res.Events[0]; e.Policy != fsm.HookStopCommand || e.ExitCode != nil {
		t.Errorf("the stop command's end: %+v", e)
	}
	if f := res.Effects[0]; f.Hook != fsm.HookPostStop {
		t.Errorf("effect %+v, want post_stop run again", f)
	}
	// A worker lost while its post_start ran: the post_start is over, unseen.
	m3 := newMachine(t)
	m3.running(sp)
	m3.crash(-1)
	m3.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	res = m3.step(Recovered{Workers: map[string]Found{"w": {Inc: 1}}, Seq: m3.replayed})
	expect(t, "lost while post_start ran", types(res.Events)+" / "+kinds(res.Effects),
		"lost hook_started restart_scheduled start_requested hook_exited / cancel-hook hook spawn")
}

// The hooks a daemon's first load decides run beside its recovery: they
// are its own, and recovery leaves them alone. Only what the log held when
// the daemon started is recovered.
func TestRecoveryLeavesThisDaemonsHooksAlone(t *testing.T) {
	m := newMachine(t)
	sp := hooked("w", fsm.HookPreStart)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	res := m.step(Recovered{Workers: map[string]Found{}, Seq: 0})
	expect(t, "recovery of an empty log", types(res.Events)+" / "+kinds(res.Effects), " / ")
	if hs := m.st.World.Worker("w").Hooks; len(hs) != 1 {
		t.Errorf("the pre_start this daemon runs: %+v", hs)
	}
}

// A post_stop that ran when the daemon died runs again before the start
// that followed it, as it would have.
func TestPostStopRunsAgainBeforeTheNextStart(t *testing.T) {
	m := newMachine(t)
	sp := hooked("w", fsm.HookPostStop)
	m.running(sp)
	m.step(Exited{Worker: "w", Inc: 1, PID: 101, Exit: failed}) // post_stop of 1, then incarnation 2 starts
	m.crash(-1)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	res := m.step(Recovered{Workers: map[string]Found{"w": {Inc: 2}}, Seq: m.replayed})
	expect(t, "recovery", types(res.Events)+" / "+kinds(res.Effects), " / hook spawn")
	if f := res.Effects[0]; f.Hook != fsm.HookPostStop || f.Inc != 1 {
		t.Errorf("first effect %+v, want incarnation 1's post_stop", f)
	}
}

func TestHookCauseSaysHowLong(t *testing.T) {
	for ran, want := range map[time.Duration]string{400 * time.Microsecond: "in 400µs", 12345 * time.Microsecond: "in 12ms"} {
		if got := hookCause(HookExited{Kind: fsm.HookPostStop, Inc: 1, Exit: ok, Ran: ran}); !strings.HasSuffix(got, want) {
			t.Errorf("%v: %q", ran, got)
		}
	}
}
