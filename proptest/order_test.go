package proptest

import (
	"fmt"
	"strings"
	"syscall"
	"time"

	"pgregory.net/rapid"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/core"
)

// ---- start-up order: workers, judge ----

// The ordered workers: db is ready 2 s after its spawn (a window in which
// it is Starting), fails on its own (on-failure) and its breaker stays
// open after two failed runs; mig is a one-shot that needs db ready and is
// never run again after a failure; app needs db ready (and restarts with
// it) and mig completed; web needs app started (and stops with it) and is
// the only one started at load, so a load starts the whole chain.
var orderNames = []string{"db", "mig", "app", "web"}

var orderConfigs = map[string][]string{"order": orderNames}

func orderSpecs(string) []*supervisor.WorkerSpec {
	mk := func(name string, f func(*supervisor.WorkerSpec)) *supervisor.WorkerSpec {
		s := &supervisor.WorkerSpec{Name: name, Command: []string{"fake", name},
			StopSignal: syscall.SIGTERM, StopTimeout: stopTimeout,
			Policy: policy.Spec{Restart: policy.Always, BackoffInitial: time.Second, BackoffMax: 2 * time.Second,
				BreakerMax: 4, BreakerWindow: time.Minute, BreakerCooldown: 20 * time.Second, StableAfter: 10 * time.Second}}
		f(s)
		s.Hash = s.SpecHash()
		return s
	}
	return []*supervisor.WorkerSpec{
		mk("db", func(s *supervisor.WorkerSpec) {
			s.StartTimeout = 2 * time.Second
			s.Policy = policy.Spec{Restart: policy.OnFailure, BackoffInitial: time.Second, BackoffMax: 2 * time.Second,
				BreakerMax: 2, BreakerWindow: time.Minute, StableAfter: 10 * time.Second}
		}),
		mk("mig", func(s *supervisor.WorkerSpec) {
			s.Oneshot = true
			s.Policy = policy.Spec{Restart: policy.Never}
			s.Deps = []core.Dep{{Name: "db", Cond: core.Ready}}
		}),
		mk("app", func(s *supervisor.WorkerSpec) {
			s.Deps = []core.Dep{{Name: "db", Cond: core.Ready, OnRestart: core.DepRestart}, {Name: "mig", Cond: core.Completed}}
		}),
		mk("web", func(s *supervisor.WorkerSpec) {
			s.Autostart = true
			s.Deps = []core.Dep{{Name: "app", Cond: core.Started, OnRestart: core.DepStop}}
		}),
	}
}

// orderOps are what the ordering properties do to the workers: commands,
// exits (a one-shot's exit 0 completes it, 1 and 3 fail it), time passing
// (db's readiness, backoffs, stop timeouts) and failed spawns.
var orderOps = []opKind{opStart, opStop, opRestart, opExit, opExit, opExitSignal, opAdvance, opAdvance, opFailSpawn}

// orderJudge holds what the workers' dependencies promise.
type orderJudge struct {
	specs      map[string]*supervisor.WorkerSpec
	dependents map[string][]string
}

func newOrderJudge() *orderJudge {
	j := &orderJudge{specs: map[string]*supervisor.WorkerSpec{}, dependents: map[string][]string{}}
	for _, sp := range orderSpecs("order") {
		j.specs[sp.Name] = sp
		for _, d := range sp.Deps {
			j.dependents[d.Name] = append(j.dependents[d.Name], sp.Name)
		}
	}
	return j
}

// unheld says how r falls short of c, or "" when it has reached c and
// settled there (not about to stop or restart): ready is Running, started
// is a spawned process of a live incarnation, completed is a one-shot
// ended by an exit 0 of its last run (also one its stop signal ended with
// an exit 0 after SIGKILL was decided: the run exited 0).
func unheld(r *fsm.Worker, c core.Condition) string {
	if r == nil || r.Removed {
		return "not configured"
	}
	what := fmt.Sprintf("%s (incarnation %d, pid %d)", r.State, r.Incarnation, r.PID)
	if x := r.LastExit; x != nil {
		what += fmt.Sprintf(", last exit of incarnation %d code %v signal %d", x.Incarnation, codeOf(x.Code), x.Signal)
	}
	switch {
	case r.Flags.RestartAfter:
		return what + ", restarting"
	case r.Waiting == "stop":
		return what + ", waiting to stop"
	}
	ok := false
	switch c {
	case core.Ready:
		ok = r.State == events.Running
	case core.Started:
		ok = (r.State == events.Starting || r.State == events.Running) && r.PID != 0
	case core.Completed:
		x := r.LastExit
		ok = (r.State == events.Stopped || r.State == events.Killed) && x != nil && x.Incarnation == r.Incarnation && x.Code != nil && *x.Code == 0 && x.Signal == 0
	}
	if ok {
		return ""
	}
	return what
}

func codeOf(c *int) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprint(*c)
}

// cannotComeUp says whether r cannot reach c without an operator: its
// breaker is open, or it ended short of c and nothing will start it again
// (no restart scheduled, no start waiting).
func cannotComeUp(r *fsm.Worker, c core.Condition) bool {
	if r == nil || r.Removed || r.Policy.BreakerOpen {
		return true
	}
	ended := r.State == events.Stopped || r.State == events.Killed
	return ended && r.Waiting == "" && !r.Policy.Pending && r.LastExit != nil && c != core.Started && unheld(r, c) != ""
}

// log folds the log event by event and checks each start and stop
// against the world just before it:
//   - a new incarnation of a worker begins (its spawn is decided) only
//     when each of its requirements holds;
//   - a live requirement's stop is recorded only once nothing that
//     depends on it is live (Starting, Running or Stopping): its stop
//     signal comes after their ends. An operator's restart is not a stop:
//     what depends on it restarts with it.
func (j *orderJudge) log(_ *fsm.World, evs []events.Event) []string {
	var probs []string
	w := fsm.NewWorld()
	for i := range evs {
		e := &evs[i]
		var before fsm.Worker
		if x := w.Worker(e.Worker); x != nil {
			before = *x.Clone()
		}
		if e.Type == events.StopRequested && !e.Stale && (before.State == events.Starting || before.State == events.Running) {
			for _, dn := range j.dependents[e.Worker] {
				if d := w.Worker(dn); d != nil && d.Live() {
					probs = append(probs, fmt.Sprintf("seq %d: stop of %s recorded (%s) while %s, which depends on it, is %s (incarnation %d)",
						e.Seq, e.Worker, e.Cause, dn, d.State, d.Incarnation))
				}
			}
		}
		if err := w.Apply(e); err != nil {
			return append(probs, fmt.Sprintf("seq %d: fold: %v", e.Seq, err))
		}
		after := w.Worker(e.Worker)
		if after == nil || after.Incarnation <= before.Incarnation || after.State != events.Starting {
			continue
		}
		for _, dep := range j.specs[e.Worker].Deps {
			if why := unheld(w.Worker(dep.Name), dep.Cond); why != "" {
				probs = append(probs, fmt.Sprintf("seq %d: %s incarnation %d begins (%s: %s) while %s is %s, short of %s",
					e.Seq, e.Worker, after.Incarnation, e.Type, e.Cause, dep.Name, why, dep.Cond))
			}
		}
	}
	return probs
}

// quiet checks the waits once the supervisor is quiet: a worker waiting
// to start is not live (never half-started); it does not wait once each
// of its requirements holds; and when a requirement cannot come up on its
// own, the wait's recorded cause names it and says so.
func (j *orderJudge) quiet(world *fsm.World) []string {
	if world.Closing {
		return nil
	}
	var probs []string
	for _, n := range orderNames {
		w := world.Worker(n)
		if w == nil || w.Waiting != "start" {
			continue
		}
		if w.Live() {
			probs = append(probs, fmt.Sprintf("%s waits to start (%s), yet it is %s (incarnation %d)", n, w.WaitCause, w.State, w.Incarnation))
		}
		unmet := 0
		for _, dep := range j.specs[n].Deps {
			r := world.Worker(dep.Name)
			if unheld(r, dep.Cond) == "" {
				continue
			}
			unmet++
			if cannotComeUp(r, dep.Cond) && (!strings.Contains(w.WaitCause, dep.Name+" cannot come up") || w.WaitBlocked == "") {
				probs = append(probs, fmt.Sprintf("%s waits for %s, which cannot come up on its own (%s), but its wait says %q (blocked %q)",
					n, dep.Name, unheld(r, dep.Cond), w.WaitCause, w.WaitBlocked))
			}
		}
		if unmet == 0 {
			probs = append(probs, fmt.Sprintf("%s still waits (%s) though each of its requirements holds", n, w.WaitCause))
		}
	}
	return probs
}

func newOrderRig(t *rapid.T) *rig {
	r := newRigOf(t, false, "order", orderSpecs, orderConfigs)
	j := newOrderJudge()
	r.judge, r.calm = j.log, j.quiet
	return r
}

// orderProperty runs batches of orderOps on the ordered workers, with
// daemon restarts (a graceful one stops everything in reverse order, one
// that leaves the workers running is followed by their adoption, a crash
// by a recovery that finds some of them gone) and a graceful shutdown at
// the end; after each, the order judge and the
// generic checks (the fake OS's, the log's, the timers') hold.
func orderProperty(t *rapid.T, kinds []opKind, workers []string) {
	r := newOrderRig(t)
	t.Cleanup(r.abandon)
	t.Repeat(map[string]func(*rapid.T){
		"batch": func(t *rapid.T) {
			r.step(t, progsGen(kinds, workers, 3, 3).Draw(t, "batch"))
		},
		"daemon restart": func(t *rapid.T) {
			kind := rapid.SampledFrom([]string{restartGraceful, restartLeave, restartCrash}).Draw(t, "restart")
			r.results, r.from, r.faulty = nil, r.sup.Seq(), false
			probs := r.restartDaemon(t, kind)
			if len(probs) == 0 {
				probs = r.check()
			}
			r.verdict(t, probs)
		},
		"": func(*rapid.T) {},
	})
	r.verdict(t, r.finish())
}
