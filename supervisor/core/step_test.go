package core

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/policy"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// machine steps a State the way the shell does, keeping the log of every
// event it was given, so a test can "crash" (rebuild the state from what
// was durable) at any point.
type machine struct {
	t   tb
	st  *State
	log []*events.Event
	now time.Time
	// replayed is the last seq the log held when the daemon last started
	// (Recovered.Seq).
	replayed events.Seq
}

// tb is what the machine needs of a test: testing's or rapid's.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

func newMachine(t tb) *machine {
	return &machine{t: t, st: NewState(fsm.NewWorld()), now: t0}
}

func (m *machine) step(in Input) Result {
	m.t.Helper()
	m.now = m.now.Add(time.Second)
	res, err := Step(m.st, in, m.now, func() float64 { return 0.5 })
	if err != nil {
		m.t.Fatalf("step %T: %v", in, err)
	}
	m.log = append(m.log, res.Events...)
	return res
}

// crash forgets everything but the first n events of the log (all when
// n < 0), as a daemon that died with only those durable, and starts again
// from their replay. The settings by digest are the new daemon's to load.
func (m *machine) crash(n int) {
	m.t.Helper()
	if n >= 0 {
		m.log = m.log[:n]
	}
	w := fsm.NewWorld()
	for _, e := range m.log {
		if err := w.Apply(e); err != nil {
			m.t.Fatalf("replay: %v", err)
		}
	}
	m.st = NewState(w)
	m.replayed = w.Seq
}

func spec(name string, mut ...func(*Spec)) *Spec {
	s := &Spec{Name: name, Autostart: true, StartTimeout: time.Second, StopSignal: int(syscall.SIGTERM),
		StopTimeout: 10 * time.Second, Policy: policy.Spec{Restart: policy.Always, BackoffInitial: time.Second, BackoffMax: 4 * time.Second}}
	for _, f := range mut {
		f(s)
	}
	s.Digest = fmt.Sprintf("%s-%v-%v-%s", name, s.Autostart, s.StopTimeout, s.Policy.Restart)
	return s
}

func types(evs []*events.Event) string {
	var out []string
	for _, e := range evs {
		s := e.Type.String()
		if e.Stale {
			s += "(stale)"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func kinds(effs []Effect) string {
	var out []string
	for _, f := range effs {
		s := f.Kind.String()
		if f.Kind == ArmTimer {
			s += ":" + f.Timer.String()
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func expect(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n got  %s\n want %s", what, got, want)
	}
}

// running brings worker w up: loaded, spawned, past its start timeout.
func (m *machine) running(specs ...*Spec) {
	m.t.Helper()
	m.step(Load{Specs: specs, Hash: "c1", Actor: "test", First: true})
	for _, sp := range specs {
		inc := m.st.World.Worker(sp.Name).Incarnation
		m.step(Spawned{Worker: sp.Name, Inc: inc, PID: 100 + int(inc), StartTicks: 7, BootID: "b"})
		m.step(TimerFired{Kind: StartTimeout, Worker: sp.Name, Inc: inc, Delay: sp.StartTimeout})
	}
}

// A SIGKILL decided but never sent before a crash is sent after it: the
// log's "killed" records the decision, not its outcome.
func TestKillDecidedBeforeCrashIsSentAgain(t *testing.T) {
	m := newMachine(t)
	sp := spec("w")
	m.running(sp)
	m.step(Command{Verb: Stop, Workers: []string{"w"}, Actor: "op"})
	res := m.step(TimerFired{Kind: StopTimeout, Worker: "w", Inc: 1, Delay: sp.StopTimeout})
	expect(t, "stop timeout", types(res.Events)+" / "+kinds(res.Effects), "killed / kill")

	// The daemon dies after "killed" is durable, before the kill is sent.
	m.crash(-1)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	res = m.step(Recovered{Workers: map[string]Found{"w": {Inc: 1, Alive: true, PID: 101, StartTicks: 7, BootID: "b"}}})
	expect(t, "recovery of a worker whose SIGKILL was decided", types(res.Events)+" / "+kinds(res.Effects), "adopted / watch kill")

	// An operator's stop meanwhile changes nothing (it is already being
	// killed) and must not be read as the kill.
	res = m.step(Command{Verb: Stop, Workers: []string{"w"}, Actor: "op"})
	expect(t, "stop of a worker being killed", types(res.Events), "stop_requested(stale)")
}

// A stop decided before a crash is signalled again after it, and its
// timeout runs again from the recovery.
func TestStopDecidedBeforeCrashIsSignalledAgain(t *testing.T) {
	m := newMachine(t)
	sp := spec("w")
	m.running(sp)
	m.step(Command{Verb: Stop, Workers: []string{"w"}, Actor: "op"})
	m.crash(-1)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	res := m.step(Recovered{Workers: map[string]Found{"w": {Inc: 1, Alive: true, PID: 101}}})
	expect(t, "recovery of a stopping worker", kinds(res.Effects), "watch signal timer:stop-timeout")
}

// A start decided before a crash, whose spawn was never reported, is
// spawned after it as the same incarnation, not recorded as lost.
func TestSpawnDecidedBeforeCrashIsMadeAgain(t *testing.T) {
	m := newMachine(t)
	sp := spec("w")
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "test", First: true})
	m.crash(-1)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	res := m.step(Recovered{Workers: map[string]Found{"w": {Inc: 1}}})
	expect(t, "recovery of an unreported spawn", types(res.Events)+" / "+kinds(res.Effects), " / spawn")
	if f := res.Effects[0]; f.Inc != 1 || f.Digest != sp.Digest {
		t.Errorf("spawn effect %+v, want incarnation 1 with the settings in force", f)
	}
}

// A reload whose commit failed is judged again against what the log says
// is in force: the changed worker is restarted when the reload is retried.
func TestReloadAfterFailedCommitRestartsTheChangedWorker(t *testing.T) {
	m := newMachine(t)
	v1 := spec("w")
	m.running(v1)
	durable := len(m.log)
	v2 := spec("w", func(s *Spec) { s.StopTimeout = 3 * time.Second })
	res := m.step(Load{Specs: []*Spec{v2}, Hash: "c2", Actor: "op"})
	expect(t, "reload", types(res.Events), "config_loaded worker_changed restart_requested")
	// Its commit fails: the pending state is rebuilt from the durable log.
	m.crash(durable)
	m.st.Specs[v1.Digest] = v1 // the daemon still knows both
	m.st.Specs[v2.Digest] = v2
	res = m.step(Load{Specs: []*Spec{v2}, Hash: "c2", Actor: "op"})
	expect(t, "the same reload again", types(res.Events), "config_loaded worker_changed restart_requested")
	if len(res.Changed) != 1 || res.Changed[0] != "w" {
		t.Errorf("changed %v, want [w]", res.Changed)
	}
}

// A reload that removes a stopped worker, whose commit failed, removes it
// when it is retried; one that removes a running worker stops it and
// removes it once it has stopped, across a daemon restart.
func TestRemovalIsFoldedFromTheLog(t *testing.T) {
	m := newMachine(t)
	a, b := spec("a"), spec("b", func(s *Spec) { s.Autostart = false })
	m.running(a)
	m.step(Load{Specs: []*Spec{a, b}, Hash: "c2", Actor: "op"})
	durable := len(m.log)
	res := m.step(Load{Specs: nil, Hash: "c3", Actor: "op"})
	expect(t, "remove both", types(res.Events), "config_loaded worker_changed stop_requested worker_removed")
	m.crash(durable)
	m.st.Specs[a.Digest], m.st.Specs[b.Digest] = a, b
	res = m.step(Load{Specs: nil, Hash: "c3", Actor: "op"})
	expect(t, "the same removal again", types(res.Events), "config_loaded worker_changed stop_requested worker_removed")
	// The daemon dies while a is stopping; the next one finishes the job.
	m.crash(-1)
	m.step(Load{Specs: nil, Hash: "c3", Actor: "daemon", First: true})
	if w := m.st.World.Worker("a"); !w.Removing || w.State != events.Stopping {
		t.Fatalf("a after restart: %+v", w)
	}
	res = m.step(Recovered{Workers: map[string]Found{"a": {Inc: 1, Alive: true, PID: 101}}})
	expect(t, "recovery", kinds(res.Effects), "watch signal timer:stop-timeout")
	res = m.step(Exited{Worker: "a", Inc: 1, PID: 101, Exit: Exit{Code: 0, HasCode: true, Desc: "exit status 0"}})
	expect(t, "a stops", types(res.Events)+" / "+kinds(res.Effects), "exited worker_removed / forget")
}

// An exit is decided once: the end, the policy's verdict and the next
// spawn in one decision, with no prediction made before it.
func TestExitIsDecidedOnce(t *testing.T) {
	m := newMachine(t)
	sp := spec("w", func(s *Spec) { s.Policy.BackoffInitial, s.Policy.BackoffMax = 0, 0 })
	m.running(sp)
	res := m.step(Exited{Worker: "w", Inc: 1, PID: 101, Exit: Exit{Code: 1, HasCode: true, Desc: "exit status 1"}})
	expect(t, "crash with no backoff", types(res.Events)+" / "+kinds(res.Effects), "exited restart_scheduled start_requested / spawn")
	if f := res.Effects[0]; f.Inc != 2 {
		t.Errorf("spawns incarnation %d, want 2", f.Inc)
	}
}

// What remains of an incarnation when its main process exits is stopped
// before the end is recorded (stop-rest), or left (leave).
func TestLeaderExit(t *testing.T) {
	m := newMachine(t)
	rest := spec("rest")
	leave := spec("leave", func(s *Spec) { s.OnLeaderExit = Leave; s.Digest += "-leave" })
	m.running(rest, leave)
	x := Exit{Code: 1, HasCode: true, Desc: "exit status 1"}
	res := m.step(LeaderExited{Worker: "rest", Inc: 1, PID: 101, Exit: x, Remaining: 2})
	expect(t, "stop-rest", types(res.Events)+" / "+kinds(res.Effects), "leader_exited / signal timer:stop-timeout")
	if w := m.st.World.Worker("rest"); w.State != events.Stopping || w.Flags.StopAsked {
		t.Errorf("rest: %s stopAsked=%v, want Stopping with the policy still deciding", w.State, w.Flags.StopAsked)
	}
	res = m.step(Exited{Worker: "rest", Inc: 1, PID: 101, Exit: x})
	expect(t, "the rest gone", types(res.Events), "exited restart_scheduled")
	res = m.step(LeaderExited{Worker: "leave", Inc: 1, PID: 102, Exit: x, Remaining: 2})
	expect(t, "leave", types(res.Events), "exited restart_scheduled")
}

// A command on many workers is one decision with one outcome per worker;
// an unknown name is refused alone.
func TestCommandOnManyWorkers(t *testing.T) {
	m := newMachine(t)
	m.running(spec("a"), spec("b"))
	res := m.step(Command{Verb: Stop, Workers: []string{"a", "nope", "b"}, Actor: "op"})
	expect(t, "stop a, nope, b", types(res.Events)+" / "+kinds(res.Effects), "stop_requested stop_requested / signal timer:stop-timeout signal timer:stop-timeout")
	if len(res.Outcomes) != 3 || res.Outcomes[0].Err != nil || !errors.Is(res.Outcomes[1].Err, ErrNoWorker) || res.Outcomes[2].Err != nil {
		t.Fatalf("outcomes %+v", res.Outcomes)
	}
	if res.Outcomes[0].Before.State != events.Running {
		t.Errorf("a before the stop: %s", res.Outcomes[0].Before.State)
	}
}

// Step never reads past its arguments: the same inputs decide the same.
func TestStepIsDeterministic(t *testing.T) {
	run := func() string {
		m := newMachine(t)
		sp := spec("w", func(s *Spec) { s.Policy.BackoffInitial = 3 * time.Second })
		m.running(sp)
		res := m.step(Exited{Worker: "w", Inc: 1, Exit: Exit{Code: 2, HasCode: true, Desc: "exit status 2"}})
		var b strings.Builder
		for _, e := range res.Events {
			fmt.Fprintf(&b, "%d %s %s %v|", e.Seq, e.Type, e.Time.Format(time.RFC3339Nano), e.Delay)
		}
		for _, f := range res.Effects {
			b.WriteString(f.String() + "|")
		}
		return b.String()
	}
	if a, b := run(), run(); a != b {
		t.Fatalf("two runs differ:\n%s\n%s", a, b)
	}
}

// A Starting worker with no start timeout is running once its process
// exists: adopted after a crash, as when spawned.
func TestAdoptedStartWithoutTimeoutIsRunning(t *testing.T) {
	m := newMachine(t)
	sp := spec("w", func(s *Spec) { s.StartTimeout = 0 })
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "test", First: true})
	// The daemon dies after the spawn, before its outcome is recorded.
	m.crash(-1)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	res := m.step(Recovered{Workers: map[string]Found{"w": {Inc: 1, Alive: true, PID: 101, StartTicks: 7, BootID: "b"}}})
	expect(t, "recovery of a start with no timeout", types(res.Events)+" / "+kinds(res.Effects), "adopted running / watch monitors")
	if w := m.st.World.Worker("w"); w.State != events.Running {
		t.Errorf("w is %s after its adoption, want Running", w.State)
	}
}

// The dead letter of an alert is a daemon-level event that changes no
// worker and implies no effect, and it replays.
func TestNotifyFailedIsRecordedAndChangesNothing(t *testing.T) {
	m := newMachine(t)
	m.step(Load{Specs: []*Spec{spec("web")}, Hash: "h1", Actor: "daemon", First: true})
	before := m.st.World.Clone()
	res := m.step(NotifyFailed{Notifier: "ops", Seq: 3, About: "spawned of web", Attempts: 5, Err: "HTTP 500"})
	expect(t, "dead letter", types(res.Events)+" / "+kinds(res.Effects), "notify_failed / ")
	e := res.Events[0]
	if e.Worker != "" || e.Attempt != 5 || e.Policy != "ops" || e.Actor != events.ActorAlert || !strings.Contains(e.Cause, `alert "ops" about seq 3`) {
		t.Errorf("event %+v", e)
	}
	if w := m.st.World.Worker("web"); w.State != before.Worker("web").State || w.Incarnation != before.Worker("web").Incarnation {
		t.Errorf("the dead letter changed web: %+v", w)
	}
	m.crash(-1)
}

// A kernel-enforced limit (an OOM kill) is recorded with actor "kernel"
// and no policy follows it, whatever the policy field says; a stray of a
// cgroup says how many processes were killed, and why.
func TestKernelViolationAndCgroupStrays(t *testing.T) {
	m := newMachine(t)
	m.running(spec("w"))
	res := m.step(Violation{Worker: "w", Inc: 1, Resource: "memory", Policy: "kill", Measured: 64, Limit: 64, Detail: "oom", Kernel: true})
	expect(t, "kernel OOM", types(res.Events)+" / "+kinds(res.Effects), "limit_violated / ")
	if e := res.Events[0]; e.Actor != events.ActorKernel || e.Cause != "oom" {
		t.Errorf("event: actor %q cause %q", e.Actor, e.Cause)
	}
	res = m.step(Violation{Worker: "w", Inc: 1, Resource: "memory", Policy: "kill", Measured: 65, Limit: 64, Detail: "rss"})
	expect(t, "sampled limit", types(res.Events)+" / "+kinds(res.Effects), "limit_violated killed / kill")

	m = newMachine(t)
	m.running(spec("w"))
	m.crash(-1)
	res = m.step(Load{Specs: []*Spec{spec("w")}, Hash: "c1", Actor: "daemon", First: true, About: "processes tracked by cgroup"})
	if e := res.Events[0]; e.Type != events.DaemonStarted || !strings.HasSuffix(e.Cause, "; processes tracked by cgroup") {
		t.Errorf("daemon_started: %s %q", e.Type, e.Cause)
	}
	res = m.step(Recovered{Workers: map[string]Found{"w": {Inc: 1}}, Strays: []Stray{{Worker: "w", Inc: 1, Procs: 2}}})
	if e := res.Events[0]; e.Type != events.StrayFound || e.Attempt != 2 || !strings.Contains(e.Cause, "2 process(es) of incarnation 1") ||
		!strings.Contains(e.Cause, "main process is gone") {
		t.Errorf("stray: %s %d %q", e.Type, e.Attempt, e.Cause)
	}
}
