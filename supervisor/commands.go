package supervisor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor/core"
)

// This file is the command layer: what every front end (the HTTP API, the
// XML-RPC adapter, the daemon's own signals) calls. Each command is one
// input to core.Step, judged under the lock, durable in one commit and
// answered once.

// Request is an operator's command.
type Request struct {
	Verb    core.Verb
	Workers []string // the workers named, in the order to answer them
	All     bool     // every configured worker (Workers is ignored)
	Actor   string
	// NoDeps: a stop or restart leaves the workers that depend on these
	// alone (by default they are stopped first, or restarted with them).
	NoDeps bool
	// Wait: after the command is durable, wait until each worker reaches
	// the command's target (core.Target) or is settled without reaching
	// it, or ctx ends.
	Wait bool
}

// Reply is what a command did to one worker.
type Reply struct {
	Worker string
	Event  *events.Event // what was recorded (stale: it changed nothing)
	Err    error         // why the command was refused for this worker
	// With Wait: whether the target was reached, the worker's state when
	// the wait ended, and, when not reached, why.
	Reached bool
	Status  fsm.Worker
	Reason  string
}

// Do judges a command on every worker it names as one decision, makes it
// durable in one commit, and answers once per worker. err is set only when
// nothing could be judged (the log refuses writes, the supervisor is
// closing, ctx ended before the commit).
func (s *Supervisor) Do(ctx context.Context, r Request) ([]Reply, error) {
	names := r.Workers
	if r.All {
		names = s.configuredNames()
	}
	b, err := s.step(core.Command{Verb: r.Verb, Workers: names, Actor: r.Actor, NoDeps: r.NoDeps})
	if len(b.res.Outcomes) == 0 && err != nil {
		return nil, err
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("supervisor: waiting for the log: %w", ctx.Err())
	}
	if b.err != nil {
		return nil, b.err
	}
	out := make([]Reply, len(b.res.Outcomes))
	for i, o := range b.res.Outcomes {
		out[i] = Reply{Worker: o.Worker, Event: o.Event, Err: o.Err}
		if o.Err == nil {
			out[i].Status = s.durableWorker(o.Worker)
			out[i].Reached = true
		}
	}
	if !r.Wait {
		return out, nil
	}
	// Every wait watches the same durable world; one goroutine per worker
	// would cost a goroutine per worker of a command on thousands.
	type waiting struct {
		i    int
		cond func(*fsm.Worker) (bool, bool)
	}
	var ws []waiting
	for i, o := range b.res.Outcomes {
		if o.Err == nil {
			ws = append(ws, waiting{i, core.Target(r.Verb, o.Before, o.Oneshot)})
		}
	}
	werr := s.waitEach(ctx, len(ws), func(j int, w *fsm.Worker) bool {
		ok, done := ws[j].cond(w)
		rep := &out[ws[j].i]
		rep.Status, rep.Reached = *w, ok
		return ok || done
	}, func(j int) string { return out[ws[j].i].Worker })
	for _, x := range ws {
		rep := &out[x.i]
		if rep.Reached {
			continue
		}
		w := rep.Status
		if w.Waiting != "" {
			rep.Reason = fmt.Sprintf("%s is %s, and %s", rep.Worker, w.State, w.WaitCause)
			if werr != nil && !settled(x.cond, &w) {
				rep.Reason = "timed out: " + rep.Reason
			}
			continue
		}
		if werr != nil && !settled(x.cond, &w) {
			rep.Reason = fmt.Sprintf("timed out: %s is %s (%s)", rep.Worker, w.State, w.Cause)
			continue
		}
		rep.Reason = fmt.Sprintf("%s is %s: %s", rep.Worker, w.State, w.Cause)
		if w.LastExit != nil {
			rep.Reason += "; last exit: " + w.LastExit.Cause
		}
	}
	return out, nil
}

func settled(cond func(*fsm.Worker) (bool, bool), w *fsm.Worker) bool {
	ok, done := cond(w)
	return ok || done
}

// one runs a command on one worker and returns its event or refusal.
func (s *Supervisor) one(ctx context.Context, v core.Verb, name, actor string) (*events.Event, error) {
	rs, err := s.Do(ctx, Request{Verb: v, Workers: []string{name}, Actor: actor})
	if err != nil {
		return nil, err
	}
	return rs[0].Event, rs[0].Err
}

// Start starts a stopped worker. Starting one that is already up is
// recorded and changes nothing; starting one that is stopping starts it
// again once it has stopped.
func (s *Supervisor) Start(ctx context.Context, name, actor string) (*events.Event, error) {
	return s.one(ctx, core.Start, name, actor)
}

// Stop stops a worker (stop signal, then SIGKILL after its stop timeout),
// or cancels its scheduled restart. An explicit stop is never followed by
// an automatic restart.
func (s *Supervisor) Stop(ctx context.Context, name, actor string) (*events.Event, error) {
	return s.one(ctx, core.Stop, name, actor)
}

// Restart stops a running worker and starts it again, or starts a stopped one.
func (s *Supervisor) Restart(ctx context.Context, name, actor string) (*events.Event, error) {
	return s.one(ctx, core.Restart, name, actor)
}

// LoadResult says what a configuration load changed.
type LoadResult struct {
	Added, Removed, Changed []string
	Seq                     events.Seq
}

// Load applies a configuration: the first load starts autostart workers;
// a reload starts added workers, stops removed ones (removing them once
// they have stopped) and restarts changed ones, leaving the rest alone.
func (s *Supervisor) Load(ctx context.Context, specs []*WorkerSpec, hash, actor string) (LoadResult, error) {
	specs = append([]*WorkerSpec(nil), specs...)
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	cs := make([]*core.Spec, len(specs))
	for i, sp := range specs {
		cs[i] = sp.core()
	}
	s.mu.Lock()
	first := !s.loaded
	for i, sp := range specs {
		s.full[cs[i].Digest] = sp
	}
	s.mu.Unlock()
	b, err := s.step(core.Load{Specs: cs, Hash: hash, Actor: actor, First: first})
	if err == nil {
		select {
		case <-b.done:
			err = b.err
		case <-ctx.Done():
			err = fmt.Errorf("supervisor: waiting for the log: %w", ctx.Err())
		}
	}
	var res LoadResult
	if len(b.res.Events) > 0 {
		res.Seq = b.res.Events[0].Seq
	}
	if err != nil {
		return res, err
	}
	s.mu.Lock()
	s.loaded = true
	s.mu.Unlock()
	res.Added, res.Removed, res.Changed = b.res.Added, b.res.Removed, b.res.Changed
	return res, nil
}

// Shutdown records that the daemon is stopping and, unless leaveRunning,
// stops every worker and waits (bounded by ctx) until none is live. It
// does not close the supervisor.
func (s *Supervisor) Shutdown(ctx context.Context, leaveRunning bool, cause string) error {
	b, err := s.step(core.Shutdown{LeaveRunning: leaveRunning, Cause: cause})
	if err == nil {
		select {
		case <-b.done:
			err = b.err
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil || leaveRunning {
		return err
	}
	return s.waitAll(ctx, func(ws []*fsm.Worker) bool {
		for _, w := range ws {
			if w.Live() {
				return false
			}
		}
		return true
	})
}

// Refused records that a client was turned away. What it asked for is not
// recorded: a refused client must not be able to write into the log.
func (s *Supervisor) Refused(ctx context.Context, actor, cause string) error {
	b, err := s.step(core.Refused{Actor: actor, Cause: cause})
	if err != nil {
		return err
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// observe records what the OS, a monitor or a timer reported, and returns
// once it is durable, or once it is known it will not be: the supervisor
// closed, or the log failed, which halts the supervisor. An observation is
// never retried after a failed commit: the daemon stops, and the next
// start learns from the OS what it missed (recovery).
func (s *Supervisor) observe(what string, in core.Input) {
	b, err := s.step(in)
	if err == nil {
		select {
		case <-b.done:
		case <-s.ctx.Done():
			return
		}
		err = b.err
	}
	switch {
	case err == nil || errors.Is(err, ErrClosed):
	case errors.Is(err, store.ErrFailed):
		s.logger.Warn().Str("observation", what).Msg("observation not recorded: the log has failed")
	default:
		s.logger.Debug().Err(err).Str("observation", what).Msg("observation not recorded")
	}
}

// sleep waits d on the supervisor's clock; false when it closed meanwhile.
func (s *Supervisor) sleep(d time.Duration) bool {
	done := make(chan struct{})
	stop := s.clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return true
	case <-s.ctx.Done():
		stop()
		return false
	}
}
