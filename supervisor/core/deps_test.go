package core

import (
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm/policy"
)

func withDeps(deps ...Dep) func(*Spec) {
	return func(s *Spec) { s.Deps = deps; s.Digest += "-deps" }
}

func oneshot(s *Spec) {
	s.Oneshot = true
	s.Autostart = false
	s.Digest += "-oneshot"
}

func readyBy(k ReadyKind, timeout time.Duration) func(*Spec) {
	return func(s *Spec) { s.Ready = Readiness{Kind: k, Timeout: timeout}; s.Digest += "-ready" }
}

func (m *machine) worker(name string) string {
	w := m.st.World.Worker(name)
	return w.State.String() + "/" + w.Waiting
}

// spawn reports the spawn of worker's current incarnation.
func (m *machine) spawn(name string) Result {
	m.t.Helper()
	w := m.st.World.Worker(name)
	return m.step(Spawned{Worker: name, Inc: w.Incarnation, PID: 500 + int(w.Incarnation), StartTicks: 1, BootID: "b"})
}

// A three-level graph: app needs db ready and migrate completed; migrate
// needs db ready. Starting app starts db first; migrate is spawned in the
// decision that records db ready, and app in the one that records
// migrate's completion.
func TestStartOrderFollowsTheGraph(t *testing.T) {
	m := newMachine(t)
	db := spec("db", readyBy(ReadyNotify, time.Minute))
	migrate := spec("migrate", oneshot, withDeps(Dep{Name: "db", Cond: Ready}))
	app := spec("app", withDeps(Dep{Name: "db", Cond: Ready}, Dep{Name: "migrate", Cond: Completed}))
	app.Autostart, db.Autostart = false, false
	m.step(Load{Specs: []*Spec{app, db, migrate}, Hash: "c", Actor: "op", First: true})
	res := m.step(Command{Verb: Start, Workers: []string{"app"}, Actor: "op"})
	expect(t, "start app", types(res.Events)+" / "+kinds(res.Effects),
		"start_requested waiting waiting / spawn")
	expect(t, "states", m.worker("db")+" "+m.worker("migrate")+" "+m.worker("app"), "Starting/ Stopped/start Stopped/start")
	if w := m.st.World.Worker("app"); !strings.Contains(w.WaitCause, "db (ready), migrate (completed)") {
		t.Errorf("app waits for %q", w.WaitCause)
	}
	// db spawned but not yet ready: nothing moves.
	res = m.spawn("db")
	expect(t, "db spawned", types(res.Events)+" / "+kinds(res.Effects), "spawned / monitors timer:ready-timeout")
	// db ready: migrate goes in the same decision.
	res = m.step(Notified{Worker: "db", Inc: 1, PID: 501, Ready: true})
	// app's wait now names only what is left.
	expect(t, "db ready", types(res.Events)+" / "+kinds(res.Effects), "running waiting start_requested / spawn")
	if e := res.Events[2]; e.Worker != "migrate" || !strings.Contains(e.Cause, "after waiting") {
		t.Errorf("migrate's start: %+v", e)
	}
	if w := m.st.World.Worker("app"); w.WaitCause != "waiting for migrate (completed)" {
		t.Errorf("app waits for %q", w.WaitCause)
	}
	m.spawn("migrate")
	res = m.step(Exited{Worker: "migrate", Inc: 1, PID: 501, Exit: Exit{Code: 0, HasCode: true, Desc: "exit status 0"}})
	expect(t, "migrate completes", types(res.Events)+" / "+kinds(res.Effects), "exited start_requested / spawn")
	if e := res.Events[0]; !strings.HasSuffix(e.Cause, "completed") {
		t.Errorf("a one-shot's exit 0 reads %q", e.Cause)
	}
	expect(t, "app", m.worker("app"), "Starting/")
}

// A requirement whose breaker opens leaves its dependent waiting, with the
// reason, never half-started; the start command is settled by it.
func TestBlockedRequirementSettlesTheStart(t *testing.T) {
	m := newMachine(t)
	db := spec("db", func(s *Spec) { s.Policy.BreakerMax, s.Policy.BreakerWindow = 1, time.Minute; s.Digest += "-b" })
	app := spec("app", withDeps(Dep{Name: "db", Cond: Ready}))
	db.Autostart, app.Autostart = false, false
	m.step(Load{Specs: []*Spec{app, db}, Hash: "c", Actor: "op", First: true})
	res := m.step(Command{Verb: Start, Workers: []string{"app"}, Actor: "op"})
	target := Target(Start, res.Outcomes[0].Before, false)
	for inc := events.Incarnation(1); ; inc++ {
		m.spawn("db")
		res = m.step(Exited{Worker: "db", Inc: inc, PID: 501, Exit: Exit{Code: 1, HasCode: true, Desc: "exit status 1"}})
		if m.st.World.Worker("db").Policy.BreakerOpen {
			break
		}
		m.step(TimerFired{Kind: RestartDue, Worker: "db", Inc: inc, Delay: time.Second})
	}
	w := m.st.World.Worker("app")
	if w.Waiting != "start" || !strings.Contains(w.WaitBlocked, "circuit breaker is open") {
		t.Fatalf("app: waiting %q blocked %q", w.Waiting, w.WaitBlocked)
	}
	if ok, done := target(w); ok || !done {
		t.Fatalf("the start of app is not settled: ok=%v done=%v", ok, done)
	}
	// An operator starts db again: app starts once it is ready.
	m.step(Command{Verb: Start, Workers: []string{"db"}, Actor: "op"})
	m.spawn("db")
	res = m.step(TimerFired{Kind: StartTimeout, Worker: "db", Inc: m.st.World.Worker("db").Incarnation, Delay: time.Second})
	expect(t, "db ready again", types(res.Events)+" / "+kinds(res.Effects), "running start_requested / spawn")
}

// Stop goes in reverse: stopping db first stops what depends on it, and
// db's own stop waits until they have stopped.
func TestStopOrderIsTheGraphReversed(t *testing.T) {
	m := newMachine(t)
	db := spec("db")
	app := spec("app", withDeps(Dep{Name: "db", Cond: Ready}))
	m.step(Load{Specs: []*Spec{app, db}, Hash: "c", Actor: "op", First: true})
	m.spawn("db")
	m.step(TimerFired{Kind: StartTimeout, Worker: "db", Inc: 1, Delay: time.Second})
	m.spawn("app")
	m.step(TimerFired{Kind: StartTimeout, Worker: "app", Inc: 1, Delay: time.Second})
	res := m.step(Command{Verb: Stop, Workers: []string{"db"}, Actor: "op"})
	expect(t, "stop db", types(res.Events)+" / "+kinds(res.Effects), "stop_requested waiting / signal timer:stop-timeout")
	if res.Events[0].Worker != "app" || res.Effects[0].Worker != "app" {
		t.Fatalf("first stopped: %s", res.Events[0].Worker)
	}
	res = m.step(Exited{Worker: "app", Inc: 1, PID: 501, Exit: Exit{Code: 0, HasCode: true, Desc: "exit status 0"}})
	expect(t, "app stopped", types(res.Events)+" / "+kinds(res.Effects), "exited stop_requested / signal timer:stop-timeout")
	if e := res.Events[1]; e.Worker != "db" || e.Actor != "op" {
		t.Errorf("db's stop: %+v", e)
	}
	m.step(Exited{Worker: "db", Inc: 1, PID: 501, Exit: Exit{Code: 0, HasCode: true, Desc: "exit status 0"}})
	// --no-deps leaves the dependents alone.
	m.step(Command{Verb: Start, Workers: []string{"db", "app"}, Actor: "op"})
	m.spawn("db")
	m.step(TimerFired{Kind: StartTimeout, Worker: "db", Inc: 2, Delay: time.Second})
	m.spawn("app")
	res = m.step(Command{Verb: Stop, Workers: []string{"db"}, Actor: "op", NoDeps: true})
	expect(t, "stop db --no-deps", types(res.Events), "stop_requested")
	expect(t, "app after it", m.worker("app"), "Starting/")
}

// A dependent with on_restart = restart follows its requirement's crash;
// the default ignores it.
func TestDependentFollowsACrashWhenAsked(t *testing.T) {
	m := newMachine(t)
	db := spec("db")
	bound := spec("bound", withDeps(Dep{Name: "db", Cond: Ready, OnRestart: DepRestart}))
	free := spec("free", withDeps(Dep{Name: "db", Cond: Ready}))
	m.step(Load{Specs: []*Spec{bound, db, free}, Hash: "c", Actor: "op", First: true})
	for _, n := range []string{"db", "bound", "free"} {
		m.spawn(n)
		m.step(TimerFired{Kind: StartTimeout, Worker: n, Inc: 1, Delay: time.Second})
	}
	res := m.step(Exited{Worker: "db", Inc: 1, PID: 501, Exit: Exit{Code: 1, HasCode: true, Desc: "exit status 1"}})
	expect(t, "db crashes", types(res.Events), "exited restart_requested restart_scheduled")
	if res.Events[1].Worker != "bound" {
		t.Errorf("restarted: %s", res.Events[1].Worker)
	}
	expect(t, "free", m.worker("free"), "Running/")
	// bound stops; its start waits for db to be ready again.
	res = m.step(Exited{Worker: "bound", Inc: 1, PID: 501, Exit: Exit{Code: 0, HasCode: true, Desc: "exit status 0"}})
	expect(t, "bound stopped", types(res.Events), "exited waiting")
}

// A readiness rule keeps a worker Starting until it says so, a message from
// outside the incarnation changes nothing, and not being ready in time is a
// failed start.
func TestReadiness(t *testing.T) {
	m := newMachine(t)
	sp := spec("n", readyBy(ReadyNotify, 30*time.Second))
	m.step(Load{Specs: []*Spec{sp}, Hash: "c", Actor: "op", First: true})
	m.spawn("n")
	status := "booting"
	res := m.step(Notified{Worker: "n", Inc: 1, PID: 999, Foreign: true, Ready: true})
	expect(t, "foreign READY=1", types(res.Events), "notified(stale)")
	res = m.step(Notified{Worker: "n", Inc: 1, PID: 501, Status: &status, Extend: time.Minute})
	expect(t, "STATUS and EXTEND", types(res.Events)+" / "+kinds(res.Effects), "notified notified / timer:ready-timeout")
	if w := m.st.World.Worker("n"); w.Status != "booting" || w.State != events.Starting {
		t.Fatalf("n: %s status %q", w.State, w.Status)
	}
	// The first ready timeout is overtaken by the extension.
	res = m.step(TimerFired{Kind: ReadyTimeout, Worker: "n", Inc: 1, Delay: 30 * time.Second})
	expect(t, "first timeout, extended", types(res.Events), "")
	m.now = m.now.Add(2 * time.Minute)
	res = m.step(TimerFired{Kind: ReadyTimeout, Worker: "n", Inc: 1, Delay: time.Minute})
	expect(t, "extended timeout", types(res.Events)+" / "+kinds(res.Effects), "not_ready / signal timer:stop-timeout")
	res = m.step(Exited{Worker: "n", Inc: 1, PID: 501, Exit: Exit{Code: 0, HasCode: true, Desc: "exit status 0"}})
	expect(t, "its end", types(res.Events), "exited restart_scheduled")
	if !strings.Contains(res.Events[1].Cause, "failed to start") {
		t.Errorf("not ready is not a failed start: %q", res.Events[1].Cause)
	}
}

// A schedule: runs when due, skips a run while the last still goes
// (forbid), and catches up once after the daemon was down.
func TestSchedule(t *testing.T) {
	m := newMachine(t)
	sp := spec("job", oneshot, func(s *Spec) {
		s.Schedule = &Schedule{Next: func(t time.Time) time.Time { return t.Truncate(time.Minute).Add(time.Minute) }, CatchUp: "once"}
		s.Digest += "-sched"
	})
	res := m.step(Load{Specs: []*Spec{sp}, Hash: "c", Actor: "op", First: true})
	expect(t, "load", kinds(res.Effects), "timer:schedule")
	due := res.Effects[0].At
	res = m.step(TimerFired{Kind: ScheduleDue, Worker: "job", Planned: due, Digest: sp.Digest})
	expect(t, "due", types(res.Events)+" / "+kinds(res.Effects), "start_requested / spawn timer:schedule")
	if !res.Events[0].Planned.Equal(due) {
		t.Errorf("planned %v, want %v", res.Events[0].Planned, due)
	}
	m.spawn("job")
	next := res.Effects[1].At
	res = m.step(TimerFired{Kind: ScheduleDue, Worker: "job", Planned: next, Digest: sp.Digest})
	expect(t, "due while running", types(res.Events), "run_skipped")
	// The same timer twice (armed by two loads) runs once.
	res = m.step(TimerFired{Kind: ScheduleDue, Worker: "job", Planned: next, Digest: sp.Digest})
	expect(t, "a run already settled", types(res.Events), "")
	m.step(Exited{Worker: "job", Inc: 1, PID: 501, Exit: Exit{Code: 0, HasCode: true, Desc: "exit status 0"}})
	// The daemon is down for ten minutes: one catch-up run.
	m.crash(-1)
	m.now = m.now.Add(10 * time.Minute)
	res = m.step(Load{Specs: []*Spec{sp}, Hash: "c", Actor: "daemon", First: true})
	var starts int
	for _, e := range res.Events {
		if e.Type == events.StartRequested {
			starts++
			if !strings.Contains(e.Cause, "catching up") {
				t.Errorf("catch-up cause %q", e.Cause)
			}
		}
	}
	if starts != 1 {
		t.Fatalf("%d starts after the outage, want one catch-up: %s", starts, types(res.Events))
	}
}

// A requirement found lost by recovery stops a dependent whose on_restart
// is stop, and that dependent, adopted in the same recovery, gets its stop
// signal once: with the stop this recovery decided, not again as a worker
// the log left stopping.
func TestRecoveryStopsADependentOnce(t *testing.T) {
	m := newMachine(t)
	db := spec("db")
	web := spec("web", withDeps(Dep{Name: "db", Cond: Started, OnRestart: DepStop}))
	m.step(Load{Specs: []*Spec{db, web}, Hash: "c1", Actor: "test", First: true})
	m.spawn("db")
	m.spawn("web")
	if got := m.worker("web"); got != "Starting/" {
		t.Fatalf("web is %s before the crash, want Starting", got)
	}
	m.crash(-1)
	m.step(Load{Specs: []*Spec{db, web}, Hash: "c1", Actor: "daemon", First: true})
	res := m.step(Recovered{Workers: map[string]Found{
		"db":  {Inc: 1, Alive: false},
		"web": {Inc: 1, Alive: true, PID: 501, StartTicks: 1, BootID: "b"},
	}})
	signals := 0
	for _, f := range res.Effects {
		if f.Worker == "web" && f.Kind == Signal {
			signals++
		}
	}
	if signals != 1 {
		t.Errorf("web gets %d stop signals from one recovery, want 1: %s / %s", signals, types(res.Events), kinds(res.Effects))
	}
	if got := m.worker("web"); got != "Stopping/" {
		t.Errorf("web is %s after recovery, want Stopping", got)
	}
}

// A requirement that ends while the daemon shuts down, leaving the workers
// running, is not restarted and leaves its dependent's wait alone: waits
// are not judged while the daemon closes. The next daemon's recovery
// judges every wait again, and the dependent's wait names the requirement
// that cannot come up. Without that, the wait said only what it said
// before, and stayed so until the requirement changed again (the property
// test of start-up order found one naming one of two such requirements).
func TestRecoveryJudgesEveryWaitAgain(t *testing.T) {
	m := newMachine(t)
	db := spec("db", readyBy(ReadyNotify, time.Minute), func(s *Spec) { s.Policy.Restart = policy.Never; s.Digest += "-never" })
	app := spec("app", withDeps(Dep{Name: "db", Cond: Ready}))
	db.Autostart, app.Autostart = false, false
	m.step(Load{Specs: []*Spec{app, db}, Hash: "c", Actor: "op", First: true})
	m.step(Command{Verb: Start, Workers: []string{"app"}, Actor: "op"})
	m.spawn("db")
	m.step(Shutdown{LeaveRunning: true, Cause: "SIGTERM"})
	m.step(Exited{Worker: "db", Inc: 1, PID: 501, Exit: Exit{Code: 1, HasCode: true, Desc: "exit status 1"}})
	if w := m.st.World.Worker("app"); w.Waiting != "start" || w.WaitBlocked != "" {
		t.Fatalf("while closing, app's wait was judged again (%q, blocked %q): this test proves nothing", w.WaitCause, w.WaitBlocked)
	}
	m.crash(-1)
	m.step(Load{Specs: []*Spec{app, db}, Hash: "c", Actor: "daemon", First: true})
	m.step(Recovered{Workers: map[string]Found{}})
	w := m.st.World.Worker("app")
	if w.Waiting != "start" || !strings.Contains(w.WaitBlocked, "db cannot come up") {
		t.Fatalf("after recovery app waits %q for %q (blocked %q), want it to say db cannot come up", w.Waiting, w.WaitCause, w.WaitBlocked)
	}
}

// A one-shot requirement that completes while the daemon shuts down,
// leaving the workers running, lets nothing through then; the next
// daemon's recovery starts its dependent, whose requirement now holds.
// Without that, the start waited until the requirement changed again.
func TestRecoveryLetsAWaitingStartThrough(t *testing.T) {
	m := newMachine(t)
	mig := spec("mig", oneshot)
	app := spec("app", withDeps(Dep{Name: "mig", Cond: Completed}))
	app.Autostart = false
	m.step(Load{Specs: []*Spec{app, mig}, Hash: "c", Actor: "op", First: true})
	m.step(Command{Verb: Start, Workers: []string{"app"}, Actor: "op"})
	m.spawn("mig")
	m.step(Shutdown{LeaveRunning: true, Cause: "SIGTERM"})
	m.step(Exited{Worker: "mig", Inc: 1, PID: 501, Exit: Exit{Code: 0, HasCode: true, Desc: "exit status 0"}})
	if got := m.worker("app"); got != "Stopped/start" {
		t.Fatalf("while closing app is %s, want still waiting: this test proves nothing", got)
	}
	m.crash(-1)
	m.step(Load{Specs: []*Spec{app, mig}, Hash: "c", Actor: "daemon", First: true})
	res := m.step(Recovered{Workers: map[string]Found{}})
	if got := m.worker("app"); got != "Starting/" {
		t.Fatalf("after recovery app is %s (%s / %s), want it started: mig completed", got, types(res.Events), kinds(res.Effects))
	}
}
