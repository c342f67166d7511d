package proptest

import (
	"fmt"
	"sort"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/policy"
)

// The model is a deliberately plain re-statement of what the log may say:
// one struct per worker, one switch per event type, no looplab, no
// fsm.World. It reads the log in seq order (the linearization order, since
// every event is decided under the supervisor's one lock), judges each
// event itself, compares its judgement with what the supervisor recorded,
// and predicts what must follow the end of an incarnation (removal, a
// requested restart, or the restart policy's verdict, computed with
// fsm/policy's pure functions).

// modelJitter is the jitter the rigs give the supervisor, so the model can
// predict every backoff exactly.
const modelJitter = 0.5

type mWorker struct {
	exists, removed  bool
	st               events.State
	inc              events.Incarnation
	stopAsked        bool
	killSent         bool
	restartAfter     bool
	restartActor     string
	pending, breaker bool
	streak           int
	recent           []time.Time
	spawnedAt        time.Time
	removing         bool
	// pid and ticks: the process the log records for the incarnation
	// (spawned or adopted), 0 while it has none.
	pid   int
	ticks uint64
	// digest: the settings the log says are in force; unsettled: the
	// removal recorded (worker_changed without settings).
	digest    string
	unsettled bool
	// held: an explicit stop settled this worker; nothing automatic may
	// start it until someone asks.
	held bool
}

func (w *mWorker) live() bool {
	return w.st == events.Starting || w.st == events.Running || w.st == events.Stopping
}

func (w *mWorker) stopped() bool { return w.st == events.Stopped || w.st == events.Killed }

type model struct {
	ws       map[string]*mWorker
	closing  bool
	policies map[string]policy.Spec       // by worker
	configs  map[string][]string          // config hash → worker names
	digests  map[string]map[string]string // config hash → worker → settings digest
	loaded   string                       // the configuration last loaded
	problems []string
	// configured[w][seq]: whether commands for w were accepted after seq.
	configured map[string][]bool
	// recoveries: what the OS held when each daemon started, by the seq
	// of its daemon_started; expect: what the running daemon's recovery
	// must record, and has not yet.
	recoveries map[events.Seq][]osProc
	expect     map[string]bool
}

// osProc is a process carrying the daemon's markers that the OS held when
// a daemon started: whose markers they are, and its identity.
type osProc struct {
	worker string
	inc    events.Incarnation
	pid    int
	ticks  uint64
}

// recovery is what the OS held when a daemon started (its daemon_started
// has seq started).
type recovery struct {
	started events.Seq
	procs   []osProc
}

func newModel(policies map[string]policy.Spec, configs map[string][]string, digests map[string]map[string]string, recs []recovery) *model {
	m := &model{ws: map[string]*mWorker{}, policies: policies, configs: configs, digests: digests,
		configured: map[string][]bool{}, recoveries: map[events.Seq][]osProc{}}
	for w := range policies {
		m.configured[w] = []bool{false}
	}
	for _, r := range recs {
		m.recoveries[r.started] = r.procs
	}
	return m
}

func (m *model) fail(e *events.Event, format string, args ...any) {
	m.problems = append(m.problems, fmt.Sprintf("seq %d %s %s/%d: %s", e.Seq, e.Type, e.Worker, e.Incarnation, fmt.Sprintf(format, args...)))
}

// verdict is the model's judgement of one event.
type verdict struct {
	from, to events.State
	stale    bool
	inc      events.Incarnation
	illegal  string
}

func isObservation(t events.Type) bool {
	switch t {
	case events.Spawned, events.SpawnFailed, events.Ready, events.Exited, events.SignalSent,
		events.KillSent, events.HealthFailed, events.HealthRecovered, events.LimitViolated,
		events.Adopted, events.Lost, events.StrayFound, events.RestartScheduled, events.BreakerOpened,
		events.LeaderExited, events.SignalRequested:
		return true
	}
	return false
}

func judge(w *mWorker, e *events.Event) verdict {
	if e.Type == events.WorkerAdded {
		if w == nil {
			return verdict{}
		}
		// A worker back in the configuration keeps counting incarnations.
		return verdict{stale: w.exists && !w.removed, inc: w.inc}
	}
	if w == nil || !w.exists {
		return verdict{illegal: "unknown worker"}
	}
	if isObservation(e.Type) {
		if e.Incarnation > w.inc {
			return verdict{illegal: fmt.Sprintf("observation of incarnation %d, newer than %d", e.Incarnation, w.inc)}
		}
		if e.Incarnation < w.inc {
			return verdict{stale: true, inc: e.Incarnation}
		}
	}
	same := verdict{inc: w.inc}
	stale := verdict{inc: w.inc, stale: true}
	to := func(s events.State) verdict {
		v := verdict{from: w.st, to: s, inc: w.inc}
		if s == events.Starting {
			v.inc++
		}
		return v
	}
	st := w.st
	switch e.Type {
	case events.StartRequested, events.RestartRequested:
		switch {
		case w.removed:
			return verdict{illegal: "removed"}
		case w.stopped():
			return to(events.Starting)
		case st == events.Stopping && w.restartAfter:
			return stale
		case st == events.Stopping:
			return same
		case e.Type == events.RestartRequested:
			return to(events.Stopping)
		}
		return stale
	case events.StopRequested:
		switch {
		case st == events.Starting || st == events.Running:
			return to(events.Stopping)
		case st == events.Stopping && (w.restartAfter || !w.stopAsked), w.stopped() && w.pending,
			w.stopped() && w.breaker && !w.stopAsked:
			// It cancels a restart that was to follow (or the one an open
			// breaker's cooldown would make), or turns a kill policy's
			// SIGKILL into an explicit stop.
			return same
		}
		return stale
	case events.KillSent:
		switch {
		case st == events.Starting || st == events.Running:
			return to(events.Stopping)
		case st == events.Stopping && !w.killSent:
			return same
		}
		return stale
	case events.Spawned:
		if st == events.Starting || st == events.Stopping {
			return same
		}
		return stale
	case events.Adopted:
		if w.live() {
			return same
		}
		return stale
	case events.SpawnFailed:
		if st == events.Starting || st == events.Stopping {
			return to(events.Stopped)
		}
		return stale
	case events.Ready:
		if st == events.Starting {
			return to(events.Running)
		}
		return stale
	case events.Exited, events.Lost:
		switch {
		case st == events.Stopping && w.killSent:
			return to(events.Killed)
		case w.live():
			return to(events.Stopped)
		}
		return stale
	case events.SignalSent, events.HealthFailed, events.HealthRecovered, events.LimitViolated, events.SignalRequested:
		if w.live() {
			return same
		}
		return stale
	case events.StrayFound:
		return same
	case events.RestartScheduled:
		if w.stopped() && !w.pending && !w.removed {
			return same
		}
		return stale
	case events.BreakerOpened:
		if w.stopped() && !w.breaker {
			return same
		}
		return stale
	case events.BreakerClosed:
		if w.breaker {
			return same
		}
		return stale
	case events.RestartCancelled:
		if w.pending || w.restartAfter {
			return same
		}
		return stale
	case events.WorkerRemoved:
		switch {
		case w.removed:
			return stale
		case !w.stopped():
			return verdict{illegal: "removed while live"}
		}
		return same
	case events.WorkerChanged:
		if w.removed {
			return verdict{illegal: "changed while removed"}
		}
		return same
	case events.LeaderExited:
		switch {
		case st == events.Starting || st == events.Running:
			return to(events.Stopping)
		case st == events.Stopping:
			return same
		}
		return stale
	}
	return verdict{illegal: "not a worker event"}
}

// run folds the whole log (evs[i] has seq i+1).
func (m *model) run(evs []events.Event) {
	for i := range evs {
		m.step(evs, i)
	}
	m.settingsInForce("at the end of the log")
	m.recoveryDone("at the end of the log")
}

func (m *model) failAt(where, format string, args ...any) {
	m.problems = append(m.problems, where+": "+fmt.Sprintf(format, args...))
}

// settingsInForce checks what the last load left in the log, once its
// decision is whole (at the next load, and at the end of the log): every
// worker of its configuration has that configuration's settings recorded;
// every other worker is removed, or its removal is recorded. A reload
// judged against settings the log never took leaves a difference here.
func (m *model) settingsInForce(where string) {
	want, ok := m.digests[m.loaded]
	if !ok {
		return
	}
	for _, n := range sortedNames(m.ws) {
		w := m.ws[n]
		dg, in := want[n]
		switch {
		case !in && w.exists && !w.removed && !w.unsettled:
			m.failAt(where, "%s is not in configuration %s, yet the log records neither its removal nor that it is being removed", n, m.loaded)
		case !in:
		case !w.exists || w.removed:
			m.failAt(where, "%s is in configuration %s but not in the log", n, m.loaded)
		case w.unsettled:
			m.failAt(where, "%s is in configuration %s, yet the log records it as being removed", n, m.loaded)
		case w.digest != dg:
			m.failAt(where, "%s: the log records settings %.12s, configuration %s has %.12s", n, w.digest, m.loaded, dg)
		}
	}
	for n := range want {
		if m.ws[n] == nil {
			m.failAt(where, "%s is in configuration %s but not in the log", n, m.loaded)
		}
	}
}

func sortedNames(ws map[string]*mWorker) []string {
	out := make([]string, 0, len(ws))
	for n := range ws {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// expectRecovery states what the recovery of the daemon starting now must
// record, from the log so far (what the daemon replays) and what the OS
// holds (procs):
//
//   - a worker the log believes alive whose recorded process (pid and
//     start time) still runs is adopted; when the log never learned the
//     pid, the process of its incarnation that started first is (every
//     other process carrying its markers descends from it);
//   - a Starting worker whose spawn was never reported and of which
//     nothing runs is spawned again, as the same incarnation, with no
//     event (the settle checks see the spawn);
//   - any other worker the log believes alive is lost, and its restart
//     policy decides what follows (followUps);
//   - what is left of any other incarnation the log knows (its cgroup:
//     every process carrying its markers) is a stray: killed, and
//     recorded with the process of it that started first; what is left
//     of an adopted incarnation beside its main process is part of it.
//
// A pid alone is never evidence: a process with the recorded pid and
// another start time is a stranger.
func (m *model) expectRecovery(procs []osProc) {
	m.expect = map[string]bool{}
	taken := map[int]bool{}
	for _, n := range sortedNames(m.ws) {
		w := m.ws[n]
		if !w.exists || w.removed || !w.live() {
			continue
		}
		var pick *osProc
		for i := range procs {
			p := &procs[i]
			switch {
			case w.pid != 0:
				if p.pid == w.pid && p.ticks == w.ticks {
					pick = p
				}
			case p.worker == n && p.inc == w.inc && (pick == nil || p.ticks < pick.ticks):
				pick = p
			}
		}
		switch {
		case pick != nil:
			m.expect[adoptedKey(n, w.inc, pick.pid, pick.ticks)] = true
			taken[pick.pid] = true
		case w.st == events.Starting && w.pid == 0:
		default:
			m.expect[lostKey(n, w.inc)] = true
		}
	}
	// What is left of an incarnation not adopted is killed as one (its
	// cgroup), recorded with the process of it that started first; what
	// is left of an adopted one is part of it.
	adopted := map[string]bool{}
	for _, p := range procs {
		if taken[p.pid] {
			adopted[fmt.Sprintf("%s/%d", p.worker, p.inc)] = true
		}
	}
	first := map[string]*osProc{}
	for i := range procs {
		p := &procs[i]
		k := fmt.Sprintf("%s/%d", p.worker, p.inc)
		if w := m.ws[p.worker]; w == nil || p.inc > w.inc || adopted[k] {
			continue
		}
		if q := first[k]; q == nil || p.ticks < q.ticks {
			first[k] = p
		}
	}
	for _, p := range first {
		m.expect[strayKey(p.worker, p.inc, p.pid)] = true
	}
}

func adoptedKey(w string, inc events.Incarnation, pid int, ticks uint64) string {
	return fmt.Sprintf("adopted %s/%d pid %d (start %d)", w, inc, pid, ticks)
}

func lostKey(w string, inc events.Incarnation) string { return fmt.Sprintf("lost %s/%d", w, inc) }

func strayKey(w string, inc events.Incarnation, pid int) string {
	return fmt.Sprintf("stray_found %s/%d pid %d", w, inc, pid)
}

// recovered judges one finding of recovery against what was expected.
func (m *model) recovered(e *events.Event) {
	if m.expect == nil {
		return
	}
	var key string
	switch e.Type {
	case events.Adopted:
		key = adoptedKey(e.Worker, e.Incarnation, e.PID, e.StartTicks)
	case events.Lost:
		key = lostKey(e.Worker, e.Incarnation)
	case events.StrayFound:
		key = strayKey(e.Worker, e.Incarnation, e.PID)
	default:
		return
	}
	if !m.expect[key] {
		m.fail(e, "recovery recorded %q, which the OS it found does not bear out (expected: %v)", key, sortedKeys(m.expect))
		return
	}
	delete(m.expect, key)
}

// recoveryDone checks that the recovery of the daemon that ran until now
// recorded everything expected of it.
func (m *model) recoveryDone(where string) {
	for _, k := range sortedKeys(m.expect) {
		m.failAt(where, "recovery did not record %q", k)
	}
	m.expect = nil
}

func sortedKeys(s map[string]bool) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (m *model) step(evs []events.Event, i int) {
	e := &evs[i]
	if e.Seq != events.Seq(i+1) {
		m.fail(e, "found at position %d: the log has a gap", i+1)
	}
	defer m.noteConfigured()
	if e.Actor == events.ActorRecovery {
		defer m.recovered(e)
	}
	switch e.Type {
	case events.ConfigLoaded:
		m.settingsInForce(fmt.Sprintf("seq %d (before configuration %s)", e.Seq, e.Hash))
		m.loaded = e.Hash
		in := map[string]bool{}
		names, ok := m.configs[e.Hash]
		if !ok {
			m.fail(e, "unknown configuration %q", e.Hash)
		}
		for _, n := range names {
			in[n] = true
		}
		for n, w := range m.ws {
			w.removing = !in[n] && w.exists && !w.removed && w.live()
		}
		return
	case events.DaemonStopping:
		m.closing = true
		return
	case events.DaemonStarted:
		// A removal in progress is in the log (worker_changed), so it
		// outlives the daemon that began it.
		m.closing = false
		m.recoveryDone(fmt.Sprintf("seq %d (the next daemon's start)", e.Seq))
		if procs, ok := m.recoveries[e.Seq]; ok {
			m.expectRecovery(procs)
		}
		return
	case events.CommandRefused, events.NotifyFailed:
		return
	case events.Scaled:
		// The group's instances past the new count are removed (stopping
		// first when live), as a load removes what it no longer names;
		// those within it are not.
		for n, w := range m.ws {
			if g, i, ok := events.SplitInstance(n); ok && g == e.Worker && w.exists && !w.removed {
				w.removing = i > e.Instances && w.live()
			}
		}
		return
	}
	w := m.ws[e.Worker]
	v := judge(w, e)
	if v.illegal != "" {
		m.fail(e, "illegal: %s", v.illegal)
		return
	}
	if e.Stale != v.stale || e.From != v.from || e.To != v.to {
		m.fail(e, "recorded %s→%s stale=%v, model says %s→%s stale=%v", e.From, e.To, e.Stale, v.from, v.to, v.stale)
	}
	if (!v.stale || !isObservation(e.Type)) && e.Incarnation != v.inc {
		m.fail(e, "recorded incarnation %d, model says %d", e.Incarnation, v.inc)
	}
	if e.Type == events.WorkerAdded && !v.stale {
		if w == nil {
			w = &mWorker{st: events.Stopped}
			m.ws[e.Worker] = w
		}
		w.exists, w.removed = true, false
	}
	if v.stale {
		// An explicit stop of a settled worker also means: stay down.
		if e.Type == events.StopRequested && w.stopped() && !isAutomatic(e.Actor) {
			w.held = true
		}
		return
	}
	m.apply(w, e, v)
	if (e.Type == events.Exited || e.Type == events.SpawnFailed || e.Type == events.Lost) && !w.live() {
		m.followUps(evs, i, w)
	}
}

// isAutomatic: actors that act on their own, never on an operator's word.
func isAutomatic(actor string) bool {
	return actor == events.ActorPolicy
}

func (m *model) apply(w *mWorker, e *events.Event, v verdict) {
	if v.to != 0 {
		w.st = v.to
	}
	w.inc = v.inc
	switch e.Type {
	case events.StartRequested, events.RestartRequested:
		if v.to == events.Starting {
			if isAutomatic(e.Actor) && w.held {
				m.fail(e, "automatic restart of a worker an explicit stop settled")
			}
			w.stopAsked, w.killSent, w.restartAfter, w.restartActor = false, false, false, ""
			w.spawnedAt, w.pid, w.ticks = time.Time{}, 0, 0
			w.pending = false
			if isAutomatic(e.Actor) {
				w.recent = append(w.recent, e.Time)
			} else {
				w.streak, w.breaker, w.recent, w.held = 0, false, nil, false
			}
			return
		}
		w.restartAfter, w.restartActor = true, e.Actor
		if v.to == events.Stopping {
			w.stopAsked = true
		}
	case events.StopRequested:
		w.stopAsked, w.restartAfter, w.restartActor = true, false, ""
		if w.stopped() {
			w.held = true // it cancelled a scheduled restart
		}
		w.pending = false
	case events.KillSent:
		w.killSent = true
	case events.Spawned:
		w.spawnedAt, w.pid, w.ticks = e.Time, e.PID, e.StartTicks
	case events.Adopted:
		w.pid, w.ticks = e.PID, e.StartTicks
		if w.spawnedAt.IsZero() {
			w.spawnedAt = e.Time
		}
	case events.Exited, events.Lost, events.SpawnFailed:
		w.pid, w.ticks = 0, 0
	case events.RestartScheduled:
		if w.held {
			m.fail(e, "restart scheduled for a worker an explicit stop settled")
		}
		w.pending, w.streak = true, e.Attempt
	case events.BreakerOpened:
		w.breaker, w.pending = true, false
	case events.BreakerClosed:
		w.breaker, w.recent = false, nil
	case events.RestartCancelled:
		w.pending, w.restartAfter = false, false
	case events.WorkerRemoved:
		w.removed, w.pending, w.removing, w.unsettled = true, false, false, false
	case events.WorkerAdded:
		w.digest, w.unsettled = e.Hash, false
	case events.WorkerChanged:
		// The configuration loaded just before decided whether it is
		// being removed; the log must say the same.
		if (e.Hash == "") != w.removing {
			m.fail(e, "worker_changed with hash %q, but the model says removing=%v", e.Hash, w.removing)
		}
		if e.Hash == "" {
			w.unsettled = true
			break
		}
		if e.Hash == w.digest && !w.unsettled {
			m.fail(e, "changed to the settings already in force (%.12s)", e.Hash)
		}
		w.digest, w.unsettled = e.Hash, false
	}
}

// want is one event the model expects to follow an incarnation's end.
type want struct {
	typ     events.Type
	actor   string
	delay   time.Duration
	attempt int
}

// followUps checks the events that the end at evs[i] must bring (they are
// recorded in the same decision, so they follow it directly).
func (m *model) followUps(evs []events.Event, i int, w *mWorker) {
	e := &evs[i]
	var wants []want
	explicit := false
	switch {
	case w.removing:
		wants = []want{{typ: events.WorkerRemoved}}
	case m.closing:
	case w.restartAfter:
		if w.breaker {
			wants = append(wants, want{typ: events.BreakerClosed, actor: w.restartActor})
		}
		wants = append(wants, want{typ: events.StartRequested, actor: w.restartActor})
	case w.stopAsked:
		explicit = true
		w.held = true
	default:
		code := -1
		if e.ExitCode != nil && e.Signal == 0 {
			code = *e.ExitCode
		}
		ex := policy.Exit{Code: code, Signal: e.Signal, FailedStart: e.From == events.Starting, Lost: e.Type == events.Lost}
		if e.Type != events.SpawnFailed && !w.spawnedAt.IsZero() {
			ex.Ran = e.Time.Sub(w.spawnedAt)
		}
		d := policy.Decide(m.policies[e.Worker], policy.History{Streak: w.streak, Restarts: w.recent}, ex, e.Time, modelJitter)
		switch d.Verdict {
		case policy.RestartAfter:
			wants = append(wants, want{typ: events.RestartScheduled, actor: events.ActorPolicy, delay: d.Delay, attempt: d.Streak})
			if d.Delay <= 0 {
				wants = append(wants, want{typ: events.StartRequested, actor: events.ActorPolicy})
			}
		case policy.OpenBreaker:
			wants = append(wants, want{typ: events.BreakerOpened, actor: events.ActorPolicy})
		}
	}
	for k, wt := range wants {
		j := i + 1 + k
		if j >= len(evs) {
			// Follow-ups are decided with the end, in one batch, and
			// become durable with it.
			m.fail(e, "expected %s to follow, but the log ends", wt.typ)
			return
		}
		f := &evs[j]
		if f.Worker != e.Worker || f.Type != wt.typ || (wt.actor != "" && f.Actor != wt.actor) ||
			(wt.typ == events.RestartScheduled && (f.Delay != wt.delay || f.Attempt != wt.attempt)) {
			m.fail(e, "expected %s (actor %q delay %s attempt %d) to follow, got seq %d %s %s actor %q delay %s attempt %d",
				wt.typ, wt.actor, wt.delay, wt.attempt, f.Seq, f.Type, f.Worker, f.Actor, f.Delay, f.Attempt)
			return
		}
	}
	if len(wants) == 0 && i+1 < len(evs) {
		f := &evs[i+1]
		auto := f.Type == events.RestartScheduled || f.Type == events.BreakerOpened || f.Type == events.WorkerRemoved ||
			(f.Type == events.StartRequested && f.Actor == events.ActorPolicy)
		if f.Worker == e.Worker && auto {
			if explicit {
				m.fail(e, "explicitly stopped, yet followed by seq %d %s", f.Seq, f.Type)
			} else {
				m.fail(e, "nothing should follow, got seq %d %s", f.Seq, f.Type)
			}
		}
	}
}

func (m *model) noteConfigured() {
	for n := range m.configured {
		w := m.ws[n]
		m.configured[n] = append(m.configured[n], w != nil && w.exists && !w.removed)
	}
}

// unconfiguredBetween reports whether w was not configured after some seq
// in [from, to].
func (m *model) unconfiguredBetween(w string, from, to events.Seq) bool {
	c := m.configured[w]
	for s := from; s <= to && int(s) < len(c); s++ {
		if !c[s] {
			return true
		}
	}
	return false
}

// compare checks the model's final states against the supervisor's world.
func (m *model) compare(world *fsm.World) []string {
	var out []string
	for n, mw := range m.ws {
		w := world.Worker(n)
		if w == nil {
			out = append(out, fmt.Sprintf("%s: in the model, not in the supervisor", n))
			continue
		}
		got := fmt.Sprintf("state=%s inc=%d removed=%v pending=%v breaker=%v streak=%d stop=%v kill=%v restartAfter=%v recent=%d",
			w.State, w.Incarnation, w.Removed, w.Policy.Pending, w.Policy.BreakerOpen, w.Policy.Streak,
			w.Flags.StopAsked, w.Flags.KillSent, w.Flags.RestartAfter, len(w.Recent))
		exp := fmt.Sprintf("state=%s inc=%d removed=%v pending=%v breaker=%v streak=%d stop=%v kill=%v restartAfter=%v recent=%d",
			mw.st, mw.inc, mw.removed, mw.pending, mw.breaker, mw.streak, mw.stopAsked, mw.killSent, mw.restartAfter, len(mw.recent))
		if got != exp {
			out = append(out, fmt.Sprintf("%s: supervisor %s, model %s", n, got, exp))
		}
	}
	if len(world.Workers) != len(m.ws) {
		out = append(out, fmt.Sprintf("supervisor has %d workers, model %d", len(world.Workers), len(m.ws)))
	}
	return out
}
