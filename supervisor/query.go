package supervisor

import (
	"context"
	"fmt"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
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
	return s.specs[name]
}

// Sample returns the latest resource sample of a worker's live process
// group, when limits are watched for it.
func (s *Supervisor) Sample(name string) (limits.Sample, bool) {
	sampler, ok := s.cfg.Watcher.(*limits.Sampler)
	if !ok {
		return limits.Sample{}, false
	}
	s.rtMu.Lock()
	rt := s.rts[name]
	s.rtMu.Unlock()
	if rt == nil || rt.proc == nil || rt.ctx.Err() != nil {
		return limits.Sample{}, false
	}
	return sampler.Latest(rt.proc.PID())
}

// WaitFor blocks until cond holds for the named worker's durable state, or
// ctx ends. It returns the state that satisfied it.
func (s *Supervisor) WaitFor(ctx context.Context, name string, cond func(*fsm.Worker) bool) (fsm.Worker, error) {
	for {
		s.viewMu.RLock()
		w := s.durable.Worker(name)
		ch := s.changed
		var cp fsm.Worker
		if w != nil {
			cp = *w
		}
		s.viewMu.RUnlock()
		if w == nil {
			return cp, fmt.Errorf("%w: %q", ErrNoWorker, name)
		}
		if cond(&cp) {
			return cp, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cp, ctx.Err()
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
	s.viewMu.RLock()
	defer s.viewMu.RUnlock()
	return s.durable.Seq
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

// Close ends every monitor and timer and the release loop, after the
// batches already queued are released. Workers are left as they are: call
// Shutdown first to stop them. The log stays open; its owner closes it.
func (s *Supervisor) Close() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.cancel()
	s.stopTimers()
	s.relMu.Lock()
	s.relStop = true
	s.relMu.Unlock()
	select {
	case s.relWake <- struct{}{}:
	default:
	}
	s.wg.Wait()
}

// WaitProcesses waits for the waiters of processes this supervisor
// spawned (after Shutdown stopped them all).
func (s *Supervisor) WaitProcesses(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.waiters.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
