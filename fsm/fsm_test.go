package fsm

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	looplab "github.com/looplab/fsm"
	"pgregory.net/rapid"

	"github.com/tendhq/tend/events"
)

const (
	stopped  = events.Stopped
	starting = events.Starting
	running  = events.Running
	stopping = events.Stopping
	killed   = events.Killed
)

// The whole table, written out independently of Table: every (state,
// transition) pair not listed here must be illegal.
var legal = map[edge]events.State{
	{stopped, TrStart}:        starting,
	{killed, TrStart}:         starting,
	{starting, TrStop}:        stopping,
	{running, TrStop}:         stopping,
	{starting, TrKill}:        stopping,
	{running, TrKill}:         stopping,
	{starting, TrSpawnFailed}: stopped,
	{stopping, TrSpawnFailed}: stopped,
	{starting, TrReady}:       running,
	{starting, TrExit}:        stopped,
	{running, TrExit}:         stopped,
	{stopping, TrExit}:        stopped,
	{stopping, TrExitKilled}:  killed,
}

func TestEveryTransition(t *testing.T) {
	n := 0
	for _, from := range events.States() {
		for _, tr := range Transitions() {
			want, ok := legal[edge{from, tr}]
			got, err := Next(from, tr)
			switch {
			case ok && err != nil:
				t.Errorf("%s from %s: want %s, got %v", tr, from, want, err)
			case ok && got != want:
				t.Errorf("%s from %s: want %s, got %s", tr, from, want, got)
			case !ok && err == nil:
				t.Errorf("%s from %s: want illegal, got %s", tr, from, got)
			case !ok:
				var ie *IllegalError
				if !errors.As(err, &ie) || !errors.Is(err, ErrIllegal) || ie.From != from || ie.Transition != tr {
					t.Errorf("%s from %s: error does not name the transition: %#v", tr, from, err)
				}
				if !strings.Contains(err.Error(), from.String()) {
					t.Errorf("message lacks the state: %v", err)
				}
			}
			n++
		}
	}
	if n != len(events.States())*len(Transitions()) {
		t.Fatal("not exhaustive")
	}
}

func TestDocDiagramMatchesTable(t *testing.T) {
	f := looplab.NewFSM(stopped.String(), Table(), nil)
	diagram, err := looplab.VisualizeWithType(f, looplab.MERMAID)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(diagram), "\n") {
		if !strings.Contains(string(doc), "//\t"+line+"\n") {
			t.Errorf("doc.go diagram lacks %q: regenerate it from Table", line)
		}
	}
}

// harness drives a World the way the supervisor does: decide, number,
// apply; and it keeps the log so replay can be compared.
type harness struct {
	t   testing.TB
	w   *World
	log []events.Event
	now time.Time
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, w: NewWorld(), now: time.Date(2026, 1, 1, 3, 14, 0, 0, time.UTC)}
}

// do decides and applies; it returns the recorded event or the decision error.
func (h *harness) do(e events.Event) (events.Event, error) {
	h.now = h.now.Add(time.Second)
	e.Time = h.now
	if err := h.w.Decide(&e); err != nil {
		return e, err
	}
	e.Seq = events.Seq(len(h.log) + 1)
	if err := h.w.Apply(&e); err != nil {
		h.t.Fatalf("apply after decide failed: %v", err)
	}
	h.log = append(h.log, e)
	return e, nil
}

func (h *harness) must(e events.Event) events.Event {
	h.t.Helper()
	got, err := h.do(e)
	if err != nil {
		h.t.Fatalf("%s: %v", e.Type, err)
	}
	return got
}

func (h *harness) state(name string) events.State { return h.w.Workers[name].State }

func ev(t events.Type, worker string, inc events.Incarnation) events.Event {
	return events.Event{Type: t, Worker: worker, Incarnation: inc, Actor: "test", Cause: t.String()}
}

func TestLifecycleWithKill(t *testing.T) {
	h := newHarness(t)
	h.must(ev(events.WorkerAdded, "web", 0))
	s := h.must(ev(events.StartRequested, "web", 0))
	if s.Incarnation != 1 || s.From != stopped || s.To != starting {
		t.Fatalf("start: %+v", s)
	}
	sp := ev(events.Spawned, "web", 1)
	sp.PID = 100
	h.must(sp)
	h.must(ev(events.Ready, "web", 1))
	h.must(ev(events.StopRequested, "web", 0))
	h.must(ev(events.KillSent, "web", 1))
	ex := ev(events.Exited, "web", 1)
	ex.Signal = 9
	got := h.must(ex)
	if got.To != killed || h.state("web") != killed {
		t.Fatalf("exit after SIGKILL should land in Killed, got %+v", got)
	}
	w := h.w.Workers["web"]
	if w.PID != 0 || w.LastExit == nil || w.LastExit.Signal != 9 || w.LastExit.Ran != 4*time.Second {
		t.Fatalf("worker after exit: %+v %+v", w, w.LastExit)
	}
	// From Killed an operator may start it again: incarnation 2.
	if s := h.must(ev(events.StartRequested, "web", 0)); s.Incarnation != 2 || s.From != killed {
		t.Fatalf("restart from Killed: %+v", s)
	}
}

func TestStaleObservationsChangeNothing(t *testing.T) {
	h := newHarness(t)
	h.must(ev(events.WorkerAdded, "a", 0))
	h.must(ev(events.StartRequested, "a", 0))
	h.must(ev(events.Spawned, "a", 1))
	h.must(ev(events.Exited, "a", 1))
	h.must(ev(events.StartRequested, "a", 0)) // incarnation 2
	before := h.w.Clone()
	for _, typ := range []events.Type{events.Exited, events.Ready, events.HealthFailed, events.LimitViolated, events.KillSent, events.Spawned, events.SpawnFailed} {
		got := h.must(ev(typ, "a", 1))
		if !got.Stale || got.To != 0 || got.Incarnation != 1 {
			t.Fatalf("%s of incarnation 1 should be stale, got %+v", typ, got)
		}
	}
	after := h.w.Clone()
	for _, w := range []*World{before, after} {
		w.Seq, w.Time = 0, time.Time{}
		w.Workers["a"].LastSeq = 0
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("stale events changed the world:\n%+v\n%+v", before.Workers["a"], after.Workers["a"])
	}
	// An incarnation from the future is not stale, it is impossible.
	if _, err := h.do(ev(events.Exited, "a", 9)); !errors.Is(err, ErrIllegal) {
		t.Fatalf("future incarnation: %v", err)
	}
}

// The fold of hooks: a failed pre_start ends its start, a failed post_start
// stops a running worker, a stop during pre_start ends with the hook, and
// the end of an earlier incarnation's hook clears it without taking the
// worker back to that incarnation.
func TestHooksFold(t *testing.T) {
	h := newHarness(t)
	h.must(ev(events.WorkerAdded, "a", 0))
	h.must(ev(events.StartRequested, "a", 0))
	started := func(kind string, inc events.Incarnation) events.Seq {
		e := ev(events.HookStarted, "a", inc)
		e.Policy = kind
		return h.must(e).Seq
	}
	exited := func(kind string, inc events.Incarnation, ref events.Seq, code int) events.Event {
		e := ev(events.HookExited, "a", inc)
		e.Policy, e.Ref, e.ExitCode = kind, ref, events.IntPtr(code)
		return h.must(e)
	}
	pre := started(HookPreStart, 1)
	if got := exited(HookPreStart, 1, pre, 2); got.From != starting || got.To != stopped || got.Stale {
		t.Fatalf("failed pre_start: %+v", got)
	}
	w := h.w.Workers["a"]
	if w.LastExit == nil || !w.LastExit.SpawnFailed || *w.LastExit.Code != 2 || len(w.Hooks) != 0 {
		t.Fatalf("after a failed pre_start: %+v %+v", w, w.LastExit)
	}
	if got := exited(HookPreStart, 1, pre, 0); !got.Stale {
		t.Fatalf("a hook ended twice: %+v", got)
	}

	// A pre_start that succeeds leaves the start to the spawn.
	h.must(ev(events.StartRequested, "a", 0))
	pre = started(HookPreStart, 2)
	if got := exited(HookPreStart, 2, pre, 0); got.To != 0 || !h.w.Workers["a"].Flags.PreStartDone {
		t.Fatalf("pre_start ok: %+v %+v", got, h.w.Workers["a"].Flags)
	}
	sp := ev(events.Spawned, "a", 2)
	sp.PID = 10
	h.must(sp)
	h.must(ev(events.Ready, "a", 2))
	post := started(HookPostStart, 2)
	if got := exited(HookPostStart, 2, post, 1); got.From != running || got.To != stopping || !h.w.Workers["a"].Flags.FailedStart {
		t.Fatalf("failed post_start: %+v", got)
	}
	h.must(ev(events.Exited, "a", 2))
	last := started(HookPostStop, 2)

	// The next incarnation starts while the last one's post_stop runs; a
	// stop during its pre_start ends it when the hook ends, even in success.
	h.must(ev(events.StartRequested, "a", 0))
	pre = started(HookPreStart, 3)
	h.must(ev(events.StopRequested, "a", 0))
	if got := exited(HookPostStop, 2, last, 0); got.Stale || got.To != 0 || h.w.Workers["a"].Incarnation != 3 {
		t.Fatalf("post_stop of incarnation 2 ended while 3 is stopping: %+v, worker at %d", got, h.w.Workers["a"].Incarnation)
	}
	if got := exited(HookPreStart, 3, pre, 0); got.From != stopping || got.To != stopped {
		t.Fatalf("pre_start ended after a stop: %+v", got)
	}
	if hs := h.w.Workers["a"].Hooks; len(hs) != 0 {
		t.Fatalf("hooks left pending: %+v", hs)
	}
	// An operator's signal needs a live worker.
	if got := h.must(ev(events.SignalRequested, "a", 3)); !got.Stale {
		t.Fatalf("signal to a stopped worker: %+v", got)
	}
}

func TestOvertakenObservationIsStale(t *testing.T) {
	h := newHarness(t)
	h.must(ev(events.WorkerAdded, "a", 0))
	h.must(ev(events.StartRequested, "a", 0))
	h.must(ev(events.StopRequested, "a", 0))
	// The spawn completes after the stop was decided: it is recorded (the
	// pid must be known to be stopped), the start timeout firing is not.
	sp := ev(events.Spawned, "a", 1)
	sp.PID = 7
	if got := h.must(sp); got.Stale {
		t.Fatal("a spawn during Stopping must be recorded, not stale")
	}
	if h.w.Workers["a"].PID != 7 {
		t.Fatal("pid not kept")
	}
	if got := h.must(ev(events.Ready, "a", 1)); !got.Stale || h.state("a") != stopping {
		t.Fatalf("ready after stop: %+v", got)
	}
	if got := h.must(ev(events.Exited, "a", 1)); got.To != stopped {
		t.Fatalf("exit: %+v", got)
	}
	if got := h.must(ev(events.Exited, "a", 1)); !got.Stale {
		t.Fatal("second exit of the same incarnation must be stale")
	}
}

func TestRestartAndPolicyMemory(t *testing.T) {
	h := newHarness(t)
	h.must(ev(events.WorkerAdded, "a", 0))
	h.must(ev(events.StartRequested, "a", 0))
	h.must(ev(events.Ready, "a", 1))
	r := h.must(ev(events.RestartRequested, "a", 0))
	if r.To != stopping || !h.w.Workers["a"].Flags.RestartAfter {
		t.Fatalf("restart: %+v", r)
	}
	h.must(ev(events.Exited, "a", 1))
	if h.state("a") != stopped {
		t.Fatal("not stopped")
	}
	h.must(ev(events.StartRequested, "a", 0))
	h.must(ev(events.Exited, "a", 2))
	sched := ev(events.RestartScheduled, "a", 2)
	sched.Delay, sched.Attempt = 3*time.Second, 2
	h.must(sched)
	w := h.w.Workers["a"]
	if !w.Policy.Pending || w.Policy.Streak != 2 || w.Policy.Due != h.now.Add(3*time.Second) {
		t.Fatalf("policy memory: %+v", w.Policy)
	}
	// An operator's stop cancels the scheduled restart; stopping again is stale.
	if got := h.must(ev(events.StopRequested, "a", 0)); got.Stale || h.w.Workers["a"].Policy.Pending {
		t.Fatalf("stop did not cancel the pending restart: %+v", got)
	}
	if got := h.must(ev(events.StopRequested, "a", 0)); !got.Stale {
		t.Fatal("a stop with nothing to stop must be stale")
	}
	// A policy start with nothing pending still decides (the supervisor
	// checks pending), and counts as an automatic restart.
	p := ev(events.StartRequested, "a", 0)
	p.Actor = events.ActorPolicy
	h.must(p)
	if w := h.w.Workers["a"]; w.Restarts != 2 || len(w.Recent) != 1 {
		t.Fatalf("restarts %d recent %v", w.Restarts, w.Recent)
	}
}

func TestIllegalCommands(t *testing.T) {
	h := newHarness(t)
	if _, err := h.do(ev(events.StartRequested, "ghost", 0)); !errors.Is(err, ErrIllegal) || !strings.Contains(err.Error(), "no such worker") {
		t.Fatalf("unknown worker: %v", err)
	}
	h.must(ev(events.WorkerAdded, "a", 0))
	h.must(ev(events.StartRequested, "a", 0))
	if _, err := h.do(ev(events.WorkerRemoved, "a", 0)); !errors.Is(err, ErrIllegal) {
		t.Fatalf("removing a live worker: %v", err)
	}
	h.must(ev(events.SpawnFailed, "a", 1))
	h.must(ev(events.WorkerRemoved, "a", 0))
	if _, err := h.do(ev(events.StartRequested, "a", 0)); !errors.Is(err, ErrIllegal) {
		t.Fatalf("starting a removed worker: %v", err)
	}
}

func TestApplyRefusesForgedTransition(t *testing.T) {
	h := newHarness(t)
	h.must(ev(events.WorkerAdded, "a", 0))
	forged := ev(events.Ready, "a", 0)
	forged.Seq, forged.From, forged.To = 2, stopped, running
	err := h.w.Apply(&forged)
	if !errors.Is(err, ErrIllegal) || !strings.Contains(err.Error(), "seq 2") {
		t.Fatalf("forged transition: %v", err)
	}
	gap := ev(events.WorkerAdded, "b", 0)
	gap.Seq = 5
	if err := h.w.Apply(&gap); err == nil || !strings.Contains(err.Error(), "gap") {
		t.Fatalf("gap: %v", err)
	}
}

// A scaled event sets the group's runtime scale, and one back to the
// configuration's count ends it; neither is judged against a worker.
func TestScaledFold(t *testing.T) {
	h := newHarness(t)
	sc := ev(events.Scaled, "web", 0)
	sc.Instances, sc.FileInstances = 6, 4
	h.must(sc)
	if got := h.w.Scales["web"]; got != (Scale{Count: 6, File: 4}) {
		t.Fatalf("scales = %v", h.w.Scales)
	}
	c := h.w.Clone()
	sc.Instances = 4
	h.must(sc)
	if len(h.w.Scales) != 0 || c.Scales["web"].Count != 6 {
		t.Fatalf("scales = %v, clone %v", h.w.Scales, c.Scales)
	}
	sc.Instances, sc.FileInstances = 0, 2
	h.must(sc)
	if got := h.w.Scales["web"]; got != (Scale{Count: 0, File: 2}) {
		t.Fatalf("scale to 0: %v", h.w.Scales)
	}
	b, err := h.w.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalSnapshot(b)
	if err != nil || !reflect.DeepEqual(got.Scales, h.w.Scales) {
		t.Fatalf("snapshot: %v %v", got, err)
	}
	// A snapshot of the version before scales reads as having none.
	old, err := UnmarshalSnapshot([]byte(`{"Version":2,"World":{"Seq":3,"Workers":{}}}`))
	if err != nil || old.Seq != 3 || old.Scales != nil {
		t.Fatalf("version 2 snapshot: %+v %v", old, err)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	h := newHarness(t)
	h.must(ev(events.WorkerAdded, "a", 0))
	h.must(ev(events.StartRequested, "a", 0))
	h.must(ev(events.Exited, "a", 1))
	b, err := h.w.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h.w) {
		t.Fatalf("snapshot differs:\n%+v\n%+v", got, h.w)
	}
	if _, err := UnmarshalSnapshot([]byte(`{"Version":99,"World":{}}`)); !errors.Is(err, ErrSnapshotVersion) {
		t.Fatalf("version: %v", err)
	}
	if _, err := UnmarshalSnapshot([]byte(`garbage`)); err == nil {
		t.Fatal("garbage accepted")
	}
}

// Any sequence of proposed events, judged and applied live, replays from
// the log alone to exactly the same world, and every logged transition is
// in the table.
func TestReplayEqualsLiveFold(t *testing.T) {
	types := events.Types()
	rapid.Check(t, func(rt *rapid.T) {
		h := newHarness(t)
		names := []string{"a", "b", "c"}
		for _, n := range names {
			h.must(ev(events.WorkerAdded, n, 0))
		}
		steps := rapid.IntRange(1, 200).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			name := rapid.SampledFrom(names).Draw(rt, "worker")
			typ := rapid.SampledFrom(types).Draw(rt, "type")
			cur := h.w.Workers[name].Incarnation
			inc := cur
			if cur > 0 {
				inc = events.Incarnation(rapid.Uint64Range(uint64(cur)-1, uint64(cur)).Draw(rt, "inc"))
			}
			e := ev(typ, name, inc)
			if rapid.Bool().Draw(rt, "policy") {
				e.Actor = events.ActorPolicy
			}
			kinds := []string{HookPreStart, HookPostStart, HookStopCommand, HookPostStop}
			switch w := h.w.Workers[name]; {
			case typ == events.HookStarted:
				e.Policy = rapid.SampledFrom(kinds).Draw(rt, "hook")
			case typ == events.HookExited && len(w.Hooks) > 0:
				hr := rapid.SampledFrom(w.Hooks).Draw(rt, "which hook")
				e.Ref, e.Policy, e.Incarnation = hr.Seq, hr.Kind, hr.Inc
				e.ExitCode = events.IntPtr(rapid.IntRange(0, 1).Draw(rt, "hook exit"))
			}
			if typ == events.WorkerAdded || typ == events.WorkerRemoved {
				continue
			}
			h.do(e) //nolint:errcheck // illegal proposals are simply not logged
		}
		replayed := NewWorld()
		for i := range h.log {
			e := h.log[i]
			if e.To != 0 {
				if to, err := Next(e.From, trFor(&e)); err != nil || to != e.To {
					rt.Fatalf("seq %d: logged %s→%s is not in the table", e.Seq, e.From, e.To)
				}
			}
			if err := replayed.Apply(&e); err != nil {
				rt.Fatalf("replay: %v", err)
			}
		}
		if !reflect.DeepEqual(replayed, h.w) {
			rt.Fatalf("replay differs from the live fold")
		}
	})
}

func trFor(e *events.Event) string {
	switch {
	case e.To == events.Starting:
		return TrStart
	case e.To == events.Running:
		return TrReady
	case e.To == events.Killed:
		return TrExitKilled
	case e.Type == events.KillSent:
		return TrKill
	case e.To == events.Stopping:
		return TrStop
	case e.Type == events.SpawnFailed:
		return TrSpawnFailed
	default:
		return TrExit
	}
}

func BenchmarkApply(b *testing.B) {
	h := newHarness(b)
	h.must(ev(events.WorkerAdded, "a", 0))
	seq := events.Seq(1)
	inc := events.Incarnation(0)
	for b.Loop() {
		for _, typ := range []events.Type{events.StartRequested, events.Spawned, events.Exited} {
			e := ev(typ, "a", inc)
			if typ == events.StartRequested {
				inc++
				e.Incarnation = 0
			} else {
				e.Incarnation = inc
			}
			if err := h.w.Decide(&e); err != nil {
				b.Fatal(err)
			}
			seq++
			e.Seq = seq
			if err := h.w.Apply(&e); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// A snapshot of version 3, from before the hand-over flag, is read: it
// was written by a tend that never recorded leave_running, so it has none.
// A version this tend does not know is refused, and the state is folded
// from the log instead.
func TestSnapshotVersion3IsRead(t *testing.T) {
	old, err := UnmarshalSnapshot([]byte(`{"Version":3,"World":{"Seq":9,"Closing":true,"Workers":{}}}`))
	if err != nil || old.Seq != 9 || !old.Closing || old.LeftRunning {
		t.Fatalf("version 3 snapshot: %+v %v", old, err)
	}
	if _, err := UnmarshalSnapshot([]byte(`{"Version":5,"World":{"Seq":9,"Workers":{}}}`)); !errors.Is(err, ErrSnapshotVersion) {
		t.Fatalf("version 5 snapshot: %v, want ErrSnapshotVersion", err)
	}
}
