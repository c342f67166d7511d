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
	// it, or ctx ends. A signal's target is its outcome: sent, or not.
	Wait bool
	// Signal is what core.SendSignal sends.
	Signal int
	// Stall, with Wait: give up once this long passes in which no worker
	// reaches its target or settles; each one that does gives the rest
	// Stall again. A command over thousands of workers then waits as long
	// as they make progress, however long that is, and one that makes
	// none ends soon. 0: only ctx bounds the wait.
	Stall time.Duration
}

// Reply is what a command did to one worker.
type Reply struct {
	Worker string
	Event  *events.Event // what was recorded (stale: it changed nothing)
	Err    error         // why the command was refused for this worker
	// Verb is what the command did to this worker: a reload is a
	// core.SendSignal or a core.Restart.
	Verb core.Verb
	// Answer: with Wait, a signal's outcome (its signal_sent).
	Answer *events.Event
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
	b, err := s.step(core.Command{Verb: r.Verb, Workers: names, Actor: r.Actor, NoDeps: r.NoDeps, Signal: r.Signal})
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
		out[i] = Reply{Worker: o.Worker, Event: o.Event, Err: o.Err, Verb: o.Verb}
		if o.Err == nil {
			out[i].Status = s.durableWorker(o.Worker)
			out[i].Reached = true
		}
	}
	if !r.Wait {
		return out, nil
	}
	ctx, progress, stop := stallContext(ctx, r.Stall)
	defer stop()
	if err := s.waitSignals(ctx, out, progress); err != nil {
		return nil, err
	}
	// Every wait watches the same durable world; one goroutine per worker
	// would cost a goroutine per worker of a command on thousands.
	type waiting struct {
		i    int
		cond func(*fsm.Worker) (bool, bool)
	}
	var ws []waiting
	for i, o := range b.res.Outcomes {
		if o.Err == nil && o.Verb != core.SendSignal {
			ws = append(ws, waiting{i, core.Target(o.Verb, o.Before, o.Oneshot)})
		}
	}
	werr := s.waitEach(ctx, len(ws), func(j int, w *fsm.Worker) bool {
		ok, done := ws[j].cond(w)
		rep := &out[ws[j].i]
		rep.Status, rep.Reached = *w, ok
		return ok || done
	}, func(j int) string { return out[ws[j].i].Worker }, progress)
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

// waitSignals waits for the outcome of each signal the command decided:
// the signal_sent that answers its signal_requested (Ref); one with an
// errno was not delivered (ESRCH: its incarnation had ended).
func (s *Supervisor) waitSignals(ctx context.Context, out []Reply, progress func()) error {
	want := make(map[events.Seq]int)
	from := events.Seq(0)
	for i, rep := range out {
		if rep.Err == nil && rep.Verb == core.SendSignal && rep.Event != nil {
			want[rep.Event.Seq] = i
			if from == 0 || rep.Event.Seq < from {
				from = rep.Event.Seq
			}
		}
	}
	if len(want) == 0 {
		return nil
	}
	errDone := errors.New("all answered")
	err := s.Follow(ctx, from+1, func(e *events.Event) error {
		i, ok := want[e.Ref]
		if !ok || e.Type != events.SignalSent {
			return nil
		}
		delete(want, e.Ref)
		progress()
		ans := *e
		rep := &out[i]
		rep.Answer, rep.Status = &ans, s.durableWorker(rep.Worker)
		// Sent is sent, even when the outcome is recorded after the end
		// it caused (stale: a KILL's exit can be recorded first).
		rep.Reached = e.Errno == 0
		if !rep.Reached {
			rep.Reason = e.Cause
		}
		if len(want) == 0 {
			return errDone
		}
		return nil
	})
	if errors.Is(err, errDone) {
		return nil
	}
	for _, i := range want {
		rep := &out[i]
		rep.Reached = false
		rep.Reason = fmt.Sprintf("timed out: no outcome of SIG%s recorded yet", events.SignalName(rep.Event.Signal))
	}
	if ctx.Err() != nil {
		return nil // each reply says it timed out
	}
	return err
}

// stallContext is ctx, ended once d passes without a call of progress
// (d > 0). stop releases its timer.
func stallContext(ctx context.Context, d time.Duration) (_ context.Context, progress, stop func()) {
	if d <= 0 {
		return ctx, func() {}, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	t := time.AfterFunc(d, cancel)
	return ctx, func() { t.Reset(d) }, func() { t.Stop(); cancel() }
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
	// Restarted: the changed workers that were live, and restart (PlanLoad
	// only; the others are stopped, and only take the new settings).
	Restarted []string
}

// Load applies a configuration: the first load starts autostart workers
// (after a crash, those the crashed daemon had not stopped; see core.Load);
// a reload starts added workers, stops removed ones (removing them once
// they have stopped) and restarts changed ones, leaving the rest alone.
func (s *Supervisor) Load(ctx context.Context, specs []*WorkerSpec, hash, actor string) (LoadResult, error) {
	return s.LoadConfig(ctx, LoadRequest{Specs: specs, Hash: hash, Actor: actor})
}

// LoadRequest is a configuration to apply.
type LoadRequest struct {
	Specs []*WorkerSpec
	Hash  string // the log's digest of the configuration as a whole
	Actor string
	// Changes: for workers whose settings changed, the keys that did
	// (core.Load.Changes). Optional.
	Changes map[string][]string
	// Groups: the workers with instances, with the configuration's count
	// of each (core.Load.Groups); Specs holds their instances up to at
	// least the count in force (ScaleOf says a runtime scale's).
	Groups []core.Group
}

// LoadConfig is Load with everything a load may say.
func (s *Supervisor) LoadConfig(ctx context.Context, r LoadRequest) (LoadResult, error) {
	specs, hash, actor := r.Specs, r.Hash, r.Actor
	specs = append([]*WorkerSpec(nil), specs...)
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	cs := make([]*core.Spec, len(specs))
	for i, sp := range specs {
		cs[i] = sp.core()
	}
	s.mu.Lock()
	first, exitOn := !s.loaded, s.exitOn
	for i, sp := range specs {
		s.full[cs[i].Digest] = sp
	}
	s.mu.Unlock()
	in := core.Load{Specs: cs, Hash: hash, Actor: actor, First: first, Changes: r.Changes, Groups: r.Groups, ExitOn: exitOn}
	if first {
		in.About = s.cfg.About
	}
	b, err := s.step(in)
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

// ScaleRequest changes the number of instances of a worker with instances.
type ScaleRequest struct {
	Group string
	Count int
	Specs []*WorkerSpec // instances 1 … Count, in order
	Actor string
}

// ScaleResult says what a scale did.
type ScaleResult struct {
	From, To       int
	Added, Removed []string
	Seq            events.Seq // of its scaled event
}

// Scale changes the number of instances of a worker with instances, as
// one decision recorded as scaled: the instances added start (if
// autostart), those past the count stop and are removed once stopped. It
// returns once that is durable, not once they have started or stopped.
func (s *Supervisor) Scale(ctx context.Context, r ScaleRequest) (ScaleResult, error) {
	cs := make([]*core.Spec, len(r.Specs))
	for i, sp := range r.Specs {
		cs[i] = sp.core()
	}
	s.mu.Lock()
	for i, sp := range r.Specs {
		s.full[cs[i].Digest] = sp
	}
	s.mu.Unlock()
	b, err := s.step(core.Scale{Group: r.Group, Count: r.Count, Specs: cs, Actor: r.Actor})
	if err == nil {
		select {
		case <-b.done:
			err = b.err
		case <-ctx.Done():
			err = fmt.Errorf("supervisor: waiting for the log: %w", ctx.Err())
		}
	}
	if err != nil {
		return ScaleResult{}, err
	}
	res := ScaleResult{From: b.res.ScaledFrom, To: r.Count, Added: b.res.Added, Removed: b.res.Removed}
	if len(b.res.Events) > 0 {
		res.Seq = b.res.Events[0].Seq
	}
	return res, nil
}

// ScaleOf is the runtime scale in force for a worker with instances (its
// count, and the configuration's count it was decided against), as the
// log says; ok false when none is.
func (s *Supervisor) ScaleOf(group string) (sc fsm.Scale, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok = s.st.World.Scales[group]
	return sc, ok
}

// PlanLoad says what LoadConfig would do with r now (which workers it
// would add, remove and restart) without doing it: Step judges the load
// against a copy of the pending state, and nothing is recorded or run.
func (s *Supervisor) PlanLoad(r LoadRequest) (LoadResult, error) {
	specs := append([]*WorkerSpec(nil), r.Specs...)
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	cs := make([]*core.Spec, len(specs))
	for i, sp := range specs {
		cs[i] = sp.core()
	}
	s.mu.Lock()
	st, first, now := s.st.Clone(), !s.loaded, s.clock.Now()
	s.mu.Unlock()
	res, err := core.Step(st, core.Load{Specs: cs, Hash: r.Hash, Actor: r.Actor, First: first, Changes: r.Changes, Groups: r.Groups},
		now, func() float64 { return 0.5 })
	if err != nil {
		return LoadResult{}, err
	}
	out := LoadResult{Added: res.Added, Removed: res.Removed, Changed: res.Changed}
	for _, e := range res.Events {
		if e.Type == events.RestartRequested && !e.Stale {
			out.Restarted = append(out.Restarted, e.Worker)
		}
	}
	return out, nil
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
			if w.Live() || len(w.Hooks) > 0 {
				// A worker's post_stop runs after its end: it is waited
				// for too, as systemd waits for ExecStopPost.
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

// NotifyFailed records the dead letter of an alert that could not be
// delivered, once it is durable. The alert's sender advances past it only
// then, so a crash before that retries the alert instead of losing it.
func (s *Supervisor) NotifyFailed(ctx context.Context, in core.NotifyFailed) error {
	b, err := s.step(in)
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
	s.observed(what, err)
}

// submit is observe without the wait: in is decided and its events
// appended, so anything decided after this call comes after them in the
// log, and the caller goes on before they are durable. A failed commit
// halts the supervisor whoever waits.
func (s *Supervisor) submit(what string, in core.Input) {
	_, err := s.step(in)
	s.observed(what, err)
}

// observed logs what became of an observation that was not recorded.
func (s *Supervisor) observed(what string, err error) {
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
