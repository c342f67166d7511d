package supervisor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/limits"
)

// Everything here reads the durable world: what status reports has always
// been written to the log first.

// Workers returns copies of the configured workers' durable state, sorted
// by name, and the seq they reflect.
func (s *Supervisor) Workers() ([]fsm.Worker, events.Seq) {
	s.viewMu.RLock()
	defer s.viewMu.RUnlock()
	names := s.durable.Names(false)
	out := make([]fsm.Worker, 0, len(names))
	for _, n := range names {
		out = append(out, *s.durable.Workers[n])
	}
	return out, s.durable.Seq
}

// Worker returns one worker's durable state.
func (s *Supervisor) Worker(name string) (fsm.Worker, error) {
	s.viewMu.RLock()
	defer s.viewMu.RUnlock()
	w := s.durable.Worker(name)
	if w == nil || w.Removed {
		return fsm.Worker{}, fmt.Errorf("%w: %q", ErrNoWorker, name)
	}
	return *w, nil
}

func (s *Supervisor) durableWorker(name string) fsm.Worker {
	w, _ := s.Worker(name)
	return w
}

// configuredNames lists the workers of the durable world that are in the
// configuration, sorted.
func (s *Supervisor) configuredNames() []string {
	s.viewMu.RLock()
	defer s.viewMu.RUnlock()
	return s.durable.Names(false)
}

// World returns a deep copy of the durable world.
func (s *Supervisor) World() *fsm.World {
	s.viewMu.RLock()
	defer s.viewMu.RUnlock()
	return s.durable.Clone()
}

// Spec returns the configuration in force for a worker, or nil.
func (s *Supervisor) Spec(name string) *WorkerSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp := s.st.SpecOf(name); sp != nil {
		return s.full[sp.Digest]
	}
	return nil
}

// WorkerView is what status shows of one worker: the fields of its
// durable state that status prints (not the whole fsm.Worker, of which
// a status of 10,000 workers copied 5.7 MB under viewMu), when its next
// scheduled run is due (zero when it has no schedule), and the latest
// resource sample of its live process group.
type WorkerView struct {
	Name        string
	State       events.State
	PID         int
	Incarnation events.Incarnation
	Restarts    int
	Since       time.Time
	Cause       string
	Actor       string
	Health      string
	// Status is what the worker last said of itself (STATUS=).
	Status string
	// LastExit is the world's own record, shared: the fold replaces a
	// worker's LastExit and never changes one. Read only.
	LastExit *fsm.Exit
	// RestartPending: a restart is scheduled, due at RestartDue.
	RestartPending bool
	BreakerOpen    bool
	RestartDue     time.Time
	// Waiting, WaitCause and WaitSince are fsm.Worker's.
	Waiting   string
	WaitCause string
	WaitSince time.Time

	NextRun time.Time
	Sample  limits.Sample
	Sampled bool
	// Tracked is set for a live worker whose processes the daemon holds;
	// Cgroup is then its incarnation's cgroup directory, "" when they are
	// told by the process-group rule.
	Tracked bool
	Cgroup  string
	// sampled is the pid whose sample to read, taken under exMu.
	sampled int
}

// ViewOf is what status shows of w's durable state, without what Views
// adds from outside the log (next run, sample, tracking).
func ViewOf(w *fsm.Worker) WorkerView {
	var v WorkerView
	v.fill(w)
	return v
}

func (v *WorkerView) fill(w *fsm.Worker) {
	*v = WorkerView{Name: w.Name, State: w.State, PID: w.PID, Incarnation: w.Incarnation, Restarts: w.Restarts,
		Since: w.Since, Cause: w.Cause, Actor: w.Actor, Health: w.Health, Status: w.Status, LastExit: w.LastExit,
		RestartPending: w.Policy.Pending, BreakerOpen: w.Policy.BreakerOpen, RestartDue: w.Policy.Due,
		Waiting: w.Waiting, WaitCause: w.WaitCause, WaitSince: w.WaitSince}
}

// Live is fsm.Worker's Live.
func (v *WorkerView) Live() bool {
	return v.State == events.Starting || v.State == events.Running || v.State == events.Stopping
}

// Views returns what status shows of the named workers, or of every
// configured worker when names is empty: AppendViews(nil, names).
func (s *Supervisor) Views(names []string) ([]WorkerView, events.Seq, error) {
	return s.AppendViews(nil, names)
}

// AppendViews appends to dst[:0] what status shows of the named workers,
// or of every configured worker when names is empty, each once, in
// events.CompareNames order, and returns it with the seq the states
// reflect: a caller that keeps the slice for the next status copies into
// it instead of making 10,000 views again. An unknown name is ErrNoWorker,
// naming every unknown one. It takes each lock once, not once per worker,
// so that a status of 10,000 workers holds the decision lock for one pass
// over the scheduled ones instead of 10,000 times.
func (s *Supervisor) AppendViews(dst []WorkerView, names []string) ([]WorkerView, events.Seq, error) {
	s.viewMu.RLock()
	seq := s.durable.Seq
	var ws []*fsm.Worker
	if len(names) == 0 {
		o := s.allNames(seq)
		names, ws = o.names, o.workers
	} else {
		names = slices.Compact(slices.Sorted(slices.Values(names)))
		slices.SortFunc(names, events.CompareNames)
	}
	out := slices.Grow(dst[:0], len(names))[:len(names)]
	var missing []string
	k := 0
	for j, n := range names {
		var w *fsm.Worker
		if ws != nil {
			w = ws[j]
		} else {
			w = s.durable.Worker(n)
		}
		if w == nil || w.Removed {
			missing = append(missing, fmt.Sprintf("%q", n))
			continue
		}
		out[k].fill(w)
		k++
	}
	s.viewMu.RUnlock()
	out = out[:k]
	if len(missing) > 0 {
		clear(out)
		return out[:0], seq, fmt.Errorf("%w: %s", ErrNoWorker, strings.Join(missing, ", "))
	}

	// Schedules live with the specs in force, under the decision lock.
	type sched struct {
		i    int
		last time.Time
		spec *core.Spec
	}
	var due []sched
	s.mu.Lock()
	for i := 0; i < len(out) && s.st.Scheduled; i++ {
		if sp := s.st.SpecOf(out[i].Name); sp != nil && sp.Schedule != nil && sp.Schedule.Next != nil {
			var last time.Time
			if w := s.st.World.Worker(out[i].Name); w != nil {
				last = w.LastPlanned
			}
			due = append(due, sched{i, last, sp})
		}
	}
	s.mu.Unlock()
	now := s.clock.Now()
	for _, d := range due {
		last := d.last
		if last.IsZero() || d.spec.Schedule.Next(last).Before(now) {
			last = now
		}
		out[d.i].NextRun = d.spec.Schedule.Next(last)
	}

	sampler, _ := s.cfg.Watcher.(*limits.Sampler)
	s.ex.exMu.Lock()
	for i := range out {
		if !out[i].Live() {
			continue
		}
		rt := s.ex.rts[out[i].Name]
		if rt == nil || rt.proc == nil {
			continue
		}
		// A Stopping worker whose main process exited still has its
		// cgroup, with what remains in it.
		out[i].Tracked = true
		if g := cgroupOf(rt.proc); g != nil {
			out[i].Cgroup = g.Dir()
		}
		if rt.ctx.Err() == nil {
			out[i].sampled = rt.proc.PID()
		}
	}
	s.ex.exMu.Unlock()
	if sampler == nil {
		return out, seq, nil
	}
	for i := range out {
		if pid := out[i].sampled; pid != 0 {
			out[i].Sample, out[i].Sampled = sampler.Latest(pid)
		}
	}
	return out, seq, nil
}

// nameOrder is the configured workers' names, in events.CompareNames
// order, as of seq, and their states in the durable world (the fold
// changes a worker in place, and every change moves seq on). Never
// changed once made: readers share it.
type nameOrder struct {
	seq     events.Seq
	names   []string
	workers []*fsm.Worker
}

// allNames is every configured worker in status order, as of seq;
// s.viewMu must be held (read or write) and seq be s.durable.Seq.
func (s *Supervisor) allNames(seq events.Seq) *nameOrder {
	if o := s.order.Load(); o != nil && o.seq == seq {
		return o
	}
	names := s.durable.Names(false)
	slices.SortFunc(names, events.CompareNames)
	o := &nameOrder{seq: seq, names: names, workers: make([]*fsm.Worker, len(names))}
	for i, n := range names {
		o.workers[i] = s.durable.Workers[n]
	}
	s.order.Store(o)
	return o
}

// NextRun is when the worker's next scheduled run is due, or zero when it
// has no schedule. It follows from the last run the log recorded, as the
// decisions do.
func (s *Supervisor) NextRun(name string) time.Time {
	s.mu.Lock()
	sp := s.st.SpecOf(name)
	var last time.Time
	if w := s.st.World.Worker(name); w != nil {
		last = w.LastPlanned
	}
	s.mu.Unlock()
	if sp == nil || sp.Schedule == nil || sp.Schedule.Next == nil {
		return time.Time{}
	}
	now := s.clock.Now()
	if last.IsZero() || sp.Schedule.Next(last).Before(now) {
		last = now
	}
	return sp.Schedule.Next(last)
}

// Sample returns the latest resource sample of a worker's live process
// group, when limits are watched for it.
func (s *Supervisor) Sample(name string) (limits.Sample, bool) {
	sampler, ok := s.cfg.Watcher.(*limits.Sampler)
	if !ok {
		return limits.Sample{}, false
	}
	rt := s.ex.latest(name)
	if rt == nil || rt.proc == nil || rt.ctx.Err() != nil {
		return limits.Sample{}, false
	}
	return sampler.Latest(rt.proc.PID())
}

// WaitFor blocks until cond holds for the named worker's durable state, or
// ctx ends. It returns the state that satisfied it (or the last one seen).
// cond judges the worker alone, again each time its log moves.
func (s *Supervisor) WaitFor(ctx context.Context, name string, cond func(*fsm.Worker) bool) (fsm.Worker, error) {
	s.viewMu.RLock()
	known := s.durable.Worker(name) != nil
	s.viewMu.RUnlock()
	if !known {
		return fsm.Worker{}, fmt.Errorf("%w: %q", ErrNoWorker, name)
	}
	var got fsm.Worker
	err := s.waitEach(ctx, 1, func(_ int, w *fsm.Worker) bool {
		got = *w
		return cond(w)
	}, func(int) string { return name }, func() {})
	return got, err
}

// waitEach waits until done(j, w) reports true for each of n workers
// (named by name(j)), judged on the durable world each time it advances,
// or ctx ends. A worker that is gone from the world counts as done; done
// must judge the worker alone.
// progress is called each time fewer are left to wait for.
func (s *Supervisor) waitEach(ctx context.Context, n int, done func(j int, w *fsm.Worker) bool, name func(j int) string, progress func()) error {
	left := make([]int, n)
	for j := range left {
		left[j] = j
	}
	// judged[j] is 1 + the LastSeq at which done last judged worker j: one
	// whose log has not moved since is not copied or judged again, so each
	// commit costs a wait over 10,000 workers a lookup per worker.
	judged := make([]events.Seq, n)
	for {
		s.viewMu.RLock()
		keep := left[:0]
		for _, j := range left {
			w := s.durable.Worker(name(j))
			if w == nil {
				continue
			}
			if judged[j] == w.LastSeq+1 {
				keep = append(keep, j)
				continue
			}
			judged[j] = w.LastSeq + 1
			cp := *w
			if !done(j, &cp) {
				keep = append(keep, j)
			}
		}
		moved := len(keep) < len(left)
		left = keep
		ch := s.changed
		s.viewMu.RUnlock()
		if len(left) == 0 {
			return nil
		}
		if moved {
			progress()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Supervisor) waitAll(ctx context.Context, cond func([]*fsm.Worker) bool) error {
	for {
		s.viewMu.RLock()
		ws := make([]*fsm.Worker, 0, len(s.durable.Workers))
		for _, w := range s.durable.Workers {
			ws = append(ws, w)
		}
		ok := cond(ws)
		ch := s.changed
		s.viewMu.RUnlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Seq is the last durable seq.
func (s *Supervisor) Seq() events.Seq {
	return events.Seq(s.durableSeq.Load())
}

// Follow calls fn for every durable event from seq from on, in order,
// without loss, waiting for new ones until ctx ends or fn fails. A client
// that reconnects passes the seq after the last one it saw.
func (s *Supervisor) Follow(ctx context.Context, from events.Seq, fn func(*events.Event) error) error {
	if from == 0 {
		from = 1
	}
	for {
		s.viewMu.RLock()
		last := s.durable.Seq
		ch := s.changed
		s.viewMu.RUnlock()
		if from <= last {
			if err := s.log.Scan(from, last, fn); err != nil {
				return err
			}
			from = last + 1
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
