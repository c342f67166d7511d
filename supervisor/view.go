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

// WorkerView is what status shows of one worker: its durable state, when
// its next scheduled run is due (zero when it has no schedule), and the
// latest resource sample of its live process group.
type WorkerView struct {
	fsm.Worker
	NextRun time.Time
	Sample  limits.Sample
	Sampled bool
	// Tracked is set for a live worker whose processes the daemon holds;
	// Cgroup is then its incarnation's cgroup directory, "" when they are
	// told by the process-group rule.
	Tracked bool
	Cgroup  string
}

// Views returns what status shows of the named workers, or of every
// configured worker when names is empty, each once, in events.CompareNames
// order, with
// the seq the states reflect. An unknown name is ErrNoWorker, naming every
// unknown one. It takes each lock once, not once per worker, so that a
// status of 10,000 workers holds the decision lock for one pass over the
// scheduled ones instead of 10,000 times.
func (s *Supervisor) Views(names []string) ([]WorkerView, events.Seq, error) {
	s.viewMu.RLock()
	seq := s.durable.Seq
	if len(names) == 0 {
		names = s.allNames(seq)
	} else {
		names = slices.Compact(slices.Sorted(slices.Values(names)))
		slices.SortFunc(names, events.CompareNames)
	}
	out := make([]WorkerView, 0, len(names))
	var missing []string
	for _, n := range names {
		w := s.durable.Worker(n)
		if w == nil || w.Removed {
			missing = append(missing, fmt.Sprintf("%q", n))
			continue
		}
		out = append(out, WorkerView{Worker: *w})
	}
	s.viewMu.RUnlock()
	if len(missing) > 0 {
		return nil, seq, fmt.Errorf("%w: %s", ErrNoWorker, strings.Join(missing, ", "))
	}

	// Schedules live with the specs in force, under the decision lock.
	type sched struct {
		i    int
		last time.Time
		spec *core.Spec
	}
	var due []sched
	s.mu.Lock()
	for i := range out {
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

	pids := make([]int, len(out))
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
			pids[i] = rt.proc.PID()
		}
	}
	s.ex.exMu.Unlock()
	sampler, ok := s.cfg.Watcher.(*limits.Sampler)
	if !ok {
		return out, seq, nil
	}
	for i, pid := range pids {
		if pid != 0 {
			out[i].Sample, out[i].Sampled = sampler.Latest(pid)
		}
	}
	return out, seq, nil
}

// nameOrder is the configured workers' names, in events.CompareNames
// order, as of seq. Never changed once made: readers share it.
type nameOrder struct {
	seq   events.Seq
	names []string
}

// allNames is every configured worker's name in status order, as of seq;
// s.viewMu must be held (read or write) and seq be s.durable.Seq.
func (s *Supervisor) allNames(seq events.Seq) []string {
	if o := s.order.Load(); o != nil && o.seq == seq {
		return o.names
	}
	names := s.durable.Names(false)
	slices.SortFunc(names, events.CompareNames)
	s.order.Store(&nameOrder{seq: seq, names: names})
	return names
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
	}, func(int) string { return name })
	return got, err
}

// waitEach waits until done(j, w) reports true for each of n workers
// (named by name(j)), judged on the durable world each time it advances,
// or ctx ends. A worker that is gone from the world counts as done.
func (s *Supervisor) waitEach(ctx context.Context, n int, done func(j int, w *fsm.Worker) bool, name func(j int) string) error {
	left := make([]int, n)
	for j := range left {
		left[j] = j
	}
	for {
		s.viewMu.RLock()
		keep := left[:0]
		for _, j := range left {
			w := s.durable.Worker(name(j))
			if w == nil {
				continue
			}
			cp := *w
			if !done(j, &cp) {
				keep = append(keep, j)
			}
		}
		left = keep
		ch := s.changed
		s.viewMu.RUnlock()
		if len(left) == 0 {
			return nil
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
