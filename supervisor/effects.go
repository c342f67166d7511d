package supervisor

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
	"github.com/tendhq/tend/supervisor/proc"
)

// effectKind is what a durable event asks the OS edges to do.
type effectKind int

const (
	effSpawn     effectKind = iota + 1 // start the incarnation's process
	effSignal                          // send the stop signal to the group
	effKill                            // SIGKILL to the group and its strays
	effMonitors                        // start health check, limit watch, start timer
	effStopTimer                       // SIGKILL if still stopping after the stop timeout
	effRestartAt                       // start again after the backoff
	effCooldown                        // close the breaker after its cooldown
	effStrays                          // find and kill an ended incarnation's strays
)

// effect is data until its event is durable; then dispatch runs it.
type effect struct {
	kind   effectKind
	worker string
	inc    events.Incarnation
	spec   *WorkerSpec
	sig    syscall.Signal
	delay  time.Duration // what a timer waits, as the log states it
	at     time.Time     // when a timer fires: from its event's time, so a late dispatch does not delay it
	old    *incarnation  // effStrays: the ended incarnation
}

// incarnation is the runtime of one spawn: its process handle and the
// context that every monitor and timer of that spawn lives under. Exactly
// one owner closes each: the waiter reaps the process, end cancels the
// context.
type incarnation struct {
	worker string
	inc    events.Incarnation
	proc   Process
	ctx    context.Context
	cancel context.CancelFunc
}

// current returns the runtime of worker's incarnation inc, or nil if that
// incarnation is not the latest one spawned (a stale effect).
func (s *Supervisor) current(worker string, inc events.Incarnation) *incarnation {
	s.rtMu.Lock()
	defer s.rtMu.Unlock()
	if rt := s.rts[worker]; rt != nil && rt.inc == inc {
		return rt
	}
	return nil
}

// effectQueue runs one worker's effects one at a time, in seq order, so a
// signal can never overtake the spawn it is aimed at. Its goroutine exists
// only while there is work.
type effectQueue struct {
	items   []func()
	running bool
}

func (s *Supervisor) enqueue(worker string, f func()) {
	s.qmu.Lock()
	q := s.queues[worker]
	if q == nil {
		q = &effectQueue{}
		s.queues[worker] = q
	}
	q.items = append(q.items, f)
	if !q.running {
		q.running = true
		s.wg.Add(1)
		go s.drain(worker, q)
	}
	s.qmu.Unlock()
}

func (s *Supervisor) drain(worker string, q *effectQueue) {
	defer s.wg.Done()
	for {
		s.qmu.Lock()
		if len(q.items) == 0 {
			q.running = false
			delete(s.queues, worker)
			s.qmu.Unlock()
			return
		}
		f := q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
		s.qmu.Unlock()
		f()
	}
}

// dispatch starts one effect of a durable event. Timers are armed here;
// everything that touches a process goes through the worker's queue.
func (s *Supervisor) dispatch(f effect) {
	switch f.kind {
	case effStopTimer:
		s.after(f.at.Sub(s.clock.Now()), func() { s.onStopTimeout(f.worker, f.inc, f.delay) })
	case effRestartAt:
		s.after(f.at.Sub(s.clock.Now()), func() { s.onRestartDue(f.worker, f.inc, f.delay) })
	case effCooldown:
		s.after(f.at.Sub(s.clock.Now()), func() { s.onCooldown(f.worker, f.inc, f.delay) })
	default:
		s.enqueue(f.worker, func() { s.run(f) })
	}
}

// after arms a timer that dies with the supervisor. Timers check, under
// mu, that what they were armed for still holds; one that no longer
// applies does nothing.
func (s *Supervisor) after(d time.Duration, f func()) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.timersClosed {
		return
	}
	s.nextTimer++
	id := s.nextTimer
	s.wg.Add(1)
	s.timers[id] = s.clock.AfterFunc(d, func() {
		defer s.wg.Done()
		s.tmu.Lock()
		delete(s.timers, id)
		s.tmu.Unlock()
		if s.ctx.Err() == nil {
			f()
		}
	})
}

// stopTimers cancels every armed timer; those already firing finish.
func (s *Supervisor) stopTimers() {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	s.timersClosed = true
	for id, stop := range s.timers {
		if stop() {
			s.wg.Done()
		}
		delete(s.timers, id)
	}
}

func (s *Supervisor) run(f effect) {
	switch f.kind {
	case effSpawn:
		s.spawn(f.worker, f.inc, f.spec)
	case effSignal:
		if rt := s.current(f.worker, f.inc); rt != nil {
			err := rt.proc.Signal(f.sig)
			s.observe("signal", func(t *txn) error {
				cause := fmt.Sprintf("SIG%s sent to the process group", events.SignalName(int(f.sig)))
				if err != nil {
					cause = fmt.Sprintf("SIG%s to the process group failed: %v", events.SignalName(int(f.sig)), err)
				}
				_, aerr := t.add(events.Event{Type: events.SignalSent, Worker: f.worker, Incarnation: f.inc,
					Actor: events.ActorDaemon, Cause: cause, Details: events.Details{Signal: int(f.sig), PID: rt.proc.PID()}})
				return aerr
			})
		}
	case effKill:
		if rt := s.current(f.worker, f.inc); rt != nil {
			_ = rt.proc.Signal(syscall.SIGKILL)
			if n, _ := rt.proc.SignalStrays(syscall.SIGKILL); n > 0 {
				s.recordStrays(f.worker, f.inc, n, "killed with the group")
			}
		}
	case effMonitors:
		s.startMonitors(f.worker, f.inc, f.spec)
	case effStrays:
		if f.old.proc.GroupAlive() {
			s.killLeftovers(f.worker, f.old)
		}
	}
}

func (s *Supervisor) recordStrays(worker string, inc events.Incarnation, n int, what string) {
	s.observe("strays", func(t *txn) error {
		_, err := t.add(events.Event{Type: events.StrayFound, Worker: worker, Incarnation: inc, Actor: events.ActorDaemon,
			Cause: fmt.Sprintf("%d process(es) of incarnation %d %s", n, inc, what)})
		return err
	})
}

// outputSpec is the part of a worker's proc.Spec that names its output,
// with the credential its files are judged against.
func outputSpec(worker string, spec *WorkerSpec) proc.Spec {
	return proc.Spec{Worker: worker, Stdout: spec.Stdout, Stderr: spec.Stderr,
		LogMaxSize: spec.LogMaxSize, LogBackups: spec.LogBackups, Credential: spec.Credential}
}

// prepareOutputs creates, in spawn order and beside the spawns, the output
// files of the workers about to start, so the spawns find them made (see
// proc.Prepare). It runs only when the Spawner can prepare.
func (s *Supervisor) prepareOutputs(specs []*WorkerSpec) {
	pr, ok := s.cfg.Spawner.(Preparer)
	if !ok || len(specs) == 0 {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for _, spec := range specs {
			if s.ctx.Err() != nil {
				return
			}
			// A failure here is Start's to report, as spawn_failed.
			_ = pr.Prepare(outputSpec(spec.Name, spec))
		}
	}()
}

// spawn starts incarnation inc and reports the outcome as an event. The
// waiter is started only after Spawned is in the log's order, so the exit
// can never be recorded before the spawn.
func (s *Supervisor) spawn(worker string, inc events.Incarnation, spec *WorkerSpec) {
	env := append([]string(nil), s.cfg.BaseEnv...)
	env = append(env, sortedEnv(spec.Env)...)
	if s.cfg.Instance != "" {
		env = append(env, proc.EnvInstance+"="+s.cfg.Instance)
	}
	ps := outputSpec(worker, spec)
	ps.Incarnation, ps.Command, ps.Dir, ps.Env = uint64(inc), spec.Command, spec.Dir, env
	var p Process
	var err error
	if s.ctx.Err() != nil {
		err = ErrClosed
	} else {
		s.spawnSem <- struct{}{}
		p, err = s.cfg.Spawner.Start(ps)
		<-s.spawnSem
	}
	if err != nil {
		var errno syscall.Errno
		errors.As(err, &errno)
		s.observe("spawn failed", func(t *txn) error {
			e, aerr := t.add(events.Event{Type: events.SpawnFailed, Worker: worker, Incarnation: inc, Actor: events.ActorDaemon,
				Cause: "spawn failed: " + err.Error(), Details: events.Details{Errno: int(errno), Command: spec.Command}})
			if aerr != nil || e.Stale {
				return aerr
			}
			return s.afterEnd(t, worker, e, 0, 0)
		})
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	rt := &incarnation{worker: worker, inc: inc, proc: p, ctx: ctx, cancel: cancel}
	s.rtMu.Lock()
	old := s.rts[worker]
	s.rts[worker] = rt
	s.rtMu.Unlock()
	if old != nil {
		old.cancel()
	}
	id := p.Identity()
	s.observe("spawned", func(t *txn) error {
		e, err := t.add(events.Event{Type: events.Spawned, Worker: worker, Incarnation: inc, Actor: events.ActorDaemon,
			Cause: fmt.Sprintf("spawned pid %d", id.PID),
			Details: events.Details{PID: id.PID, StartTicks: id.StartTicks, BootID: id.BootID,
				Command: spec.Command, EnvNames: envNames(spec.Env)}})
		if err != nil || e.Stale {
			return err
		}
		t.effect(effect{kind: effMonitors, worker: worker, inc: inc, spec: spec})
		if spec.StartTimeout <= 0 {
			_, err = t.add(events.Event{Type: events.Ready, Worker: worker, Incarnation: inc, Actor: events.ActorDaemon,
				Cause: "running (no start timeout)"})
		}
		return err
	})
	s.waiters.Add(1)
	go s.wait(worker, rt)
}

// wait is the one owner of the process's exit status. Whatever of the
// worker outlives its main process (group members, descendants that left
// the group) is killed before the worker can be shown Stopped.
//
// Group members are checked before the exit is recorded. Strays cost a read
// of the daemon's children (one entry per worker) to find, so when the exit
// is followed at once by the next incarnation's start, in the same
// decision, the worker is never shown Stopped and the search runs after
// the restart's spawn, as an effect of that decision; otherwise it runs
// first.
func (s *Supervisor) wait(worker string, rt *incarnation) {
	defer s.waiters.Done()
	ex := rt.proc.Wait()
	mutantCancel(rt.cancel) // its monitors end with it
	if rt.proc.MembersAlive() {
		s.killLeftovers(worker, rt)
		s.recordExit(worker, rt, ex, true)
		return
	}
	if s.recordExit(worker, rt, ex, false) {
		return
	}
	if rt.proc.GroupAlive() {
		s.killLeftovers(worker, rt)
	}
	s.recordExit(worker, rt, ex, true)
}

// recordExit records the exit and what follows it. Unless straysChecked,
// it records only an exit followed at once by a restart, whose effects then
// include the search for strays; it reports false, having recorded
// nothing, when the search must come first.
func (s *Supervisor) recordExit(worker string, rt *incarnation, ex proc.Exit, straysChecked bool) bool {
	first, mispredicted := false, false
	s.observe("exited", func(t *txn) error {
		first, mispredicted = false, false
		if !straysChecked && !s.restartsAtOnceLocked(worker, rt.inc, ex) {
			first = true
			return nil
		}
		ev := events.Event{Type: events.Exited, Worker: worker, Incarnation: rt.inc, Actor: events.ActorProcess,
			Cause: "process " + ex.String(), Details: events.Details{PID: rt.proc.PID(), Signal: int(ex.Signal)}}
		if ex.Signal == 0 && ex.Code >= 0 {
			ev.ExitCode = events.IntPtr(ex.Code)
		}
		e, err := t.add(ev)
		if err != nil || e.Stale {
			return err
		}
		err = s.afterEnd(t, worker, e, ex.Code, int(ex.Signal))
		if !straysChecked {
			// Queued after the restart's spawn, and whatever afterEnd
			// decided: the search runs once the exit is durable.
			t.effect(effect{kind: effStrays, worker: worker, inc: rt.inc, old: rt})
			// restartsAtOnceLocked promised a restart: a bug if not,
			// bounded by the search that follows at once.
			w := s.pending.Worker(worker)
			mispredicted = err == nil && (w == nil || w.State != events.Starting)
		}
		return err
	})
	if mispredicted {
		s.mispredicted.Add(1)
		s.logger.Error().Str("worker", worker).Msg("exit recorded before the search for strays without a restart")
	}
	return !first
}

// killLeftovers records, then kills, what outlived the worker's main
// process, and waits (bounded) until it is gone.
func (s *Supervisor) killLeftovers(worker string, rt *incarnation) {
	b, err := s.transact(func(t *txn) error {
		_, err := t.add(events.Event{Type: events.StrayFound, Worker: worker, Incarnation: rt.inc, Actor: events.ActorDaemon,
			Cause: fmt.Sprintf("processes of incarnation %d outlived its main process (pid %d): killed with SIGKILL", rt.inc, rt.proc.PID())})
		return err
	})
	if err == nil {
		<-b.done
	}
	// Even if the log refused the event, leaving them would let the next
	// incarnation run beside them; the kill cannot wait for the disk.
	deadline := time.Now().Add(5 * time.Second)
	for rt.proc.GroupAlive() && time.Now().Before(deadline) {
		_ = rt.proc.Signal(syscall.SIGKILL)
		_, _ = rt.proc.SignalStrays(syscall.SIGKILL)
		time.Sleep(10 * time.Millisecond)
	}
}

// startMonitors runs the incarnation's health check and limit watch, and
// arms its start timeout, all under the incarnation's context.
func (s *Supervisor) startMonitors(worker string, inc events.Incarnation, spec *WorkerSpec) {
	rt := s.current(worker, inc)
	if rt == nil || rt.ctx.Err() != nil {
		return
	}
	if spec.StartTimeout > 0 {
		s.after(spec.StartTimeout, func() { s.onStartTimeout(worker, inc, spec.StartTimeout) })
	}
	if spec.Health != nil {
		hs := *spec.Health
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.cfg.Probe(rt.ctx, hs, func(r health.Report) { s.onHealth(worker, inc, r) })
		}()
	}
	if spec.Limits != nil && s.cfg.Watcher != nil {
		s.cfg.Watcher.Watch(rt.ctx, rt.proc.PID(), *spec.Limits, func(v limits.Violation) {
			// The sampler must not block: record from a goroutine.
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.onViolation(worker, inc, v)
			}()
		})
	}
}
