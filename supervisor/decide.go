package supervisor

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
	"github.com/tendhq/tend/supervisor/proc"
)

// The functions in this file decide. Each runs with mu held, inside a txn,
// and does no I/O: what must happen outside is returned as effects.

// effectsFor adds the effects a recorded event implies.
func (s *Supervisor) effectsFor(t *txn, e *events.Event) {
	if e.Stale {
		return
	}
	spec := s.specs[e.Worker]
	if spec == nil {
		return
	}
	mutantSignalAgain(t, e, spec)
	switch {
	case e.To == events.Starting:
		t.effect(effect{kind: effSpawn, worker: e.Worker, inc: e.Incarnation, spec: spec})
	case e.Type == events.KillSent:
		t.effect(effect{kind: effKill, worker: e.Worker, inc: e.Incarnation})
	case e.To == events.Stopping:
		t.effect(effect{kind: effSignal, worker: e.Worker, inc: e.Incarnation, sig: spec.StopSignal})
		t.effect(effect{kind: effStopTimer, worker: e.Worker, inc: e.Incarnation, delay: spec.StopTimeout, at: e.Time.Add(spec.StopTimeout)})
	}
}

// record adds an event and its effects.
func (s *Supervisor) record(t *txn, e events.Event) (*events.Event, error) {
	rec, err := t.add(e)
	if err != nil {
		return nil, err
	}
	s.effectsFor(t, rec)
	return rec, nil
}

// startLocked records a start (or a restart of a stopped worker), closing
// an open breaker first when someone other than the policy asks.
func (s *Supervisor) startLocked(t *txn, name string, typ events.Type, actor, cause string) (*events.Event, error) {
	if s.closing {
		return nil, ErrClosed
	}
	w := s.pending.Worker(name)
	if w != nil && w.Policy.BreakerOpen && !w.Live() && actor != events.ActorPolicy {
		if _, err := t.add(events.Event{Type: events.BreakerClosed, Worker: name, Actor: actor,
			Cause: "circuit breaker reset by " + actor}); err != nil {
			return nil, err
		}
	}
	return s.record(t, events.Event{Type: typ, Worker: name, Actor: actor, Cause: cause})
}

func (s *Supervisor) known(name string) error {
	w := s.pending.Worker(name)
	if s.specs[name] == nil || w == nil || w.Removed {
		return fmt.Errorf("%w: %q", ErrNoWorker, name)
	}
	return nil
}

// Start starts a stopped worker. Starting one that is already up is
// recorded and changes nothing; starting one that is stopping starts it
// again once it has stopped.
func (s *Supervisor) Start(ctx context.Context, name, actor string) (*events.Event, error) {
	return s.one(ctx, name, func(t *txn) (*events.Event, error) {
		return s.startLocked(t, name, events.StartRequested, actor, "start requested by "+actor)
	})
}

// Stop stops a worker (stop signal, then SIGKILL after its stop timeout),
// or cancels its scheduled restart. An explicit stop is never followed by
// an automatic restart.
func (s *Supervisor) Stop(ctx context.Context, name, actor string) (*events.Event, error) {
	return s.one(ctx, name, func(t *txn) (*events.Event, error) {
		return s.record(t, events.Event{Type: events.StopRequested, Worker: name, Actor: actor, Cause: "stop requested by " + actor})
	})
}

// Restart stops a running worker and starts it again, or starts a stopped one.
func (s *Supervisor) Restart(ctx context.Context, name, actor string) (*events.Event, error) {
	return s.one(ctx, name, func(t *txn) (*events.Event, error) {
		return s.startLocked(t, name, events.RestartRequested, actor, "restart requested by "+actor)
	})
}

func (s *Supervisor) one(ctx context.Context, name string, f func(t *txn) (*events.Event, error)) (*events.Event, error) {
	var rec *events.Event
	_, err := s.command(ctx, func(t *txn) error {
		if err := s.known(name); err != nil {
			return err
		}
		e, err := f(t)
		rec = e
		return err
	})
	return rec, err
}

// endPlan is what follows the end of an incarnation.
type endPlan struct {
	remove  bool            // removed from the configuration: record it removed
	restart bool            // start again at once, as asked by actor
	actor   string          // who asked for the restart
	decided bool            // the restart policy decided: d
	d       policy.Decision // its verdict
}

// planEndLocked decides what follows the end of name's incarnation, whose
// exit the policy sees as ex, at now. jitter is drawn only if the policy
// decides. It records nothing: afterEnd carries the plan out, and
// restartsAtOnceLocked only looks at it, so the two cannot disagree on
// anything but the exit's time and the jitter.
func (s *Supervisor) planEndLocked(name string, w *fsm.Worker, ex policy.Exit, now time.Time, jitter func() float64) endPlan {
	spec := s.specs[name]
	switch {
	case s.removing[name]:
		return endPlan{remove: true}
	case s.closing || spec == nil || w == nil:
		return endPlan{}
	case w.Flags.RestartAfter:
		return endPlan{restart: true, actor: w.Flags.RestartActor}
	case w.Flags.StopAsked && !mutantRestartAfterStop:
		return endPlan{}
	}
	h := policy.History{Streak: w.Policy.Streak, Restarts: w.Recent}
	return endPlan{decided: true, d: policy.Decide(spec.Policy, h, ex, now, jitter())}
}

// policyExit is an exit as the restart policy sees it. hasCode: the
// process exited with a status (no signal).
func policyExit(typ events.Type, from events.State, code, sig int, hasCode bool, ran time.Duration) policy.Exit {
	ex := policy.Exit{Code: code, Signal: sig, FailedStart: from == events.Starting, Lost: typ == events.Lost, Ran: ran}
	if typ == events.SpawnFailed || sig != 0 || !hasCode {
		ex.Code = -1
	}
	return ex
}

// afterEnd records what follows the end of an incarnation: removal, a
// requested restart, or the restart policy's verdict. e is the recorded
// exit (exited, spawn_failed or lost).
func (s *Supervisor) afterEnd(t *txn, name string, e *events.Event, code, sig int) error {
	w := s.pending.Worker(name)
	var ran time.Duration
	if w != nil && w.LastExit != nil {
		ran = w.LastExit.Ran
	}
	p := s.planEndLocked(name, w, policyExit(e.Type, e.From, code, sig, e.ExitCode != nil, ran), e.Time, s.jitter)
	switch {
	case p.remove:
		delete(s.removing, name)
		delete(s.specs, name)
		_, err := t.add(events.Event{Type: events.WorkerRemoved, Worker: name, Actor: events.ActorDaemon,
			Cause: "removed from the configuration"})
		return err
	case p.restart:
		_, err := s.startLocked(t, name, events.StartRequested, p.actor, "starting again: restart requested by "+p.actor)
		return err
	case !p.decided:
		return nil
	}
	spec, d := s.specs[name], p.d
	switch d.Verdict {
	case policy.RestartAfter:
		r, err := t.add(events.Event{Type: events.RestartScheduled, Worker: name, Incarnation: e.Incarnation,
			Actor: events.ActorPolicy, Cause: d.Reason,
			Details: events.Details{Delay: d.Delay, Attempt: d.Streak, Policy: string(spec.Policy.Restart)}})
		if err != nil {
			return err
		}
		if d.Delay <= 0 {
			_, err := s.startLocked(t, name, events.StartRequested, events.ActorPolicy, "restarting: "+d.Reason)
			return err
		}
		t.effect(effect{kind: effRestartAt, worker: name, inc: e.Incarnation, delay: d.Delay, at: r.Time.Add(d.Delay)})
	case policy.OpenBreaker:
		b, err := t.add(events.Event{Type: events.BreakerOpened, Worker: name, Incarnation: e.Incarnation,
			Actor: events.ActorPolicy, Cause: d.Reason, Details: events.Details{Attempt: len(w.Recent)}})
		if err != nil {
			return err
		}
		if cd := spec.Policy.BreakerCooldown; cd > 0 {
			t.effect(effect{kind: effCooldown, worker: name, inc: e.Incarnation, delay: cd, at: b.Time.Add(cd)})
		}
	}
	return nil
}

// restartsAtOnceLocked reports whether recording the exit of worker's
// incarnation inc now would, in the same decision, start the next
// incarnation, so the worker is never shown Stopped. It asks
// planEndLocked, as afterEnd does, before the exit is recorded: the exit
// changes none of the flags, memory and restart times the plan reads. It
// may answer false for an exit that does restart at
// once, never true for one that does not: the backoff is judged with the
// most delaying jitter, and the breaker with the earliest time the exit
// can carry, as restarts only leave its window as time passes.
func (s *Supervisor) restartsAtOnceLocked(name string, inc events.Incarnation, ex proc.Exit) bool {
	w := s.pending.Worker(name)
	if w == nil || w.Incarnation != inc || !w.Live() {
		return false
	}
	now := s.clock.Now().UTC()
	if now.Before(s.lastTime) {
		now = s.lastTime
	}
	var ran time.Duration
	if !w.SpawnedAt.IsZero() {
		ran = now.Sub(w.SpawnedAt)
	}
	pe := policyExit(events.Exited, w.State, ex.Code, int(ex.Signal), ex.Signal == 0 && ex.Code >= 0, ran)
	p := s.planEndLocked(name, w, pe, now, func() float64 { return 1 })
	return p.restart || p.decided && p.d.Verdict == policy.RestartAfter && p.d.Delay <= 0
}

// The on* timer handlers below check, under mu, that what they were armed
// for still holds. One that no longer applies records nothing: what made it
// moot (a stop, a start, a new incarnation) is already in the log.

func (s *Supervisor) onStartTimeout(name string, inc events.Incarnation, d time.Duration) {
	s.observe("start timeout", func(t *txn) error {
		w := s.pending.Worker(name)
		if w == nil || w.Incarnation != inc || w.State != events.Starting {
			return nil
		}
		_, err := t.add(events.Event{Type: events.Ready, Worker: name, Incarnation: inc, Actor: events.ActorDaemon,
			Cause: fmt.Sprintf("up for %s (start_timeout): running", d)})
		return err
	})
}

func (s *Supervisor) onStopTimeout(name string, inc events.Incarnation, d time.Duration) {
	s.observe("stop timeout", func(t *txn) error {
		w := s.pending.Worker(name)
		if w == nil || w.Incarnation != inc || w.State != events.Stopping || w.Flags.KillSent {
			return nil
		}
		_, err := s.record(t, events.Event{Type: events.KillSent, Worker: name, Incarnation: inc, Actor: events.ActorDaemon,
			Cause:   fmt.Sprintf("still running %s after the stop signal (stop_timeout): SIGKILL to the process group", d),
			Details: events.Details{Signal: 9}})
		return err
	})
}

func (s *Supervisor) onRestartDue(name string, inc events.Incarnation, d time.Duration) {
	s.observe("restart", func(t *txn) error {
		w := s.pending.Worker(name)
		if w == nil || w.Incarnation != inc || !w.Policy.Pending || w.Live() || s.closing {
			return nil
		}
		cause := fmt.Sprintf("restarting after %s backoff", d.Round(time.Millisecond))
		if w.LastExit != nil {
			cause += " (" + w.LastExit.Cause + ")"
		}
		_, err := s.startLocked(t, name, events.StartRequested, events.ActorPolicy, cause)
		return err
	})
}

func (s *Supervisor) onCooldown(name string, inc events.Incarnation, d time.Duration) {
	s.observe("breaker cooldown", func(t *txn) error {
		w := s.pending.Worker(name)
		if w == nil || w.Incarnation != inc || !w.Policy.BreakerOpen || w.Live() || w.Flags.StopAsked || s.closing {
			return nil
		}
		if _, err := t.add(events.Event{Type: events.BreakerClosed, Worker: name, Actor: events.ActorPolicy,
			Cause: fmt.Sprintf("circuit breaker cooldown of %s elapsed", d)}); err != nil {
			return err
		}
		_, err := s.startLocked(t, name, events.StartRequested, events.ActorPolicy, "starting again after the breaker's cooldown")
		return err
	})
}

func (s *Supervisor) onHealth(name string, inc events.Incarnation, r health.Report) {
	s.observe("health", func(t *txn) error {
		typ, cause := events.HealthRecovered, "health check passes again: "+r.Detail
		if !r.Healthy {
			typ, cause = events.HealthFailed, fmt.Sprintf("health check failed %d times: %s", r.Consecutive, r.Detail)
		}
		e, err := t.add(events.Event{Type: typ, Worker: name, Incarnation: inc, Actor: events.ActorHealth, Cause: cause,
			Details: events.Details{Attempt: r.Consecutive}})
		if err != nil || e.Stale || r.Healthy {
			return err
		}
		if w := s.pending.Worker(name); w.State == events.Starting || w.State == events.Running {
			_, err = s.record(t, events.Event{Type: events.RestartRequested, Worker: name, Actor: events.ActorHealth,
				Cause: "restart: " + cause})
		}
		return err
	})
}

func (s *Supervisor) onViolation(name string, inc events.Incarnation, v limits.Violation) {
	s.observe("limit", func(t *txn) error {
		cause := fmt.Sprintf("%s; policy %s", v.Detail, v.Policy)
		e, err := t.add(events.Event{Type: events.LimitViolated, Worker: name, Incarnation: inc, Actor: events.ActorLimits,
			Cause: cause, Details: events.Details{Resource: v.Resource, Measured: v.Measured, Limit: v.Limit, Policy: string(v.Policy)}})
		if err != nil || e.Stale {
			return err
		}
		w := s.pending.Worker(name)
		if !w.Live() {
			return nil
		}
		switch v.Policy {
		case limits.PolicyRestart:
			_, err = s.record(t, events.Event{Type: events.RestartRequested, Worker: name, Actor: events.ActorLimits, Cause: "restart: " + v.Detail})
		case limits.PolicyStop:
			_, err = s.record(t, events.Event{Type: events.StopRequested, Worker: name, Actor: events.ActorLimits, Cause: "stop: " + v.Detail})
		case limits.PolicyKill:
			_, err = s.record(t, events.Event{Type: events.KillSent, Worker: name, Incarnation: inc, Actor: events.ActorLimits,
				Cause: "SIGKILL to the process group: " + v.Detail, Details: events.Details{Signal: 9}})
		}
		return err
	})
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
	var res LoadResult
	sort.Slice(specs, func(i, j int) bool { return specs[i].Name < specs[j].Name })
	evs, err := s.command(ctx, func(t *txn) error {
		first := !s.loaded
		verb := "reloaded"
		if first {
			verb = "loaded"
			if _, err := t.add(events.Event{Type: events.DaemonStarted, Actor: events.ActorDaemon,
				Cause: fmt.Sprintf("daemon started; log replayed to seq %d", s.pending.Seq)}); err != nil {
				return err
			}
		}
		if _, err := t.add(events.Event{Type: events.ConfigLoaded, Actor: actor,
			Cause:   fmt.Sprintf("configuration %s by %s (%d workers)", verb, actor, len(specs)),
			Details: events.Details{Hash: hash}}); err != nil {
			return err
		}
		s.loaded = true
		var starting []*WorkerSpec
		seen := make(map[string]bool, len(specs))
		for _, spec := range specs {
			seen[spec.Name] = true
			w := s.pending.Worker(spec.Name)
			old := s.specs[spec.Name]
			s.specs[spec.Name] = spec
			delete(s.removing, spec.Name)
			switch {
			case w == nil || w.Removed:
				if _, err := t.add(events.Event{Type: events.WorkerAdded, Worker: spec.Name, Actor: actor,
					Cause: "added by the configuration", Details: events.Details{Hash: spec.Hash}}); err != nil {
					return err
				}
				res.Added = append(res.Added, spec.Name)
				if spec.Autostart {
					if _, err := s.startLocked(t, spec.Name, events.StartRequested, actor, "autostart"); err != nil {
						return err
					}
					starting = append(starting, spec)
				}
			case first:
				if spec.Autostart && !w.Live() && !w.Policy.Pending && !w.Policy.BreakerOpen {
					if _, err := s.startLocked(t, spec.Name, events.StartRequested, actor, "autostart"); err != nil {
						return err
					}
					starting = append(starting, spec)
				}
				s.rearmLocked(t, w, spec)
			case old != nil && old.Hash != spec.Hash:
				res.Changed = append(res.Changed, spec.Name)
				if w.Live() {
					if _, err := s.record(t, events.Event{Type: events.RestartRequested, Worker: spec.Name, Actor: actor,
						Cause: "configuration changed: restarting"}); err != nil {
						return err
					}
				}
			}
		}
		for _, name := range s.pending.Names(false) {
			if seen[name] {
				continue
			}
			res.Removed = append(res.Removed, name)
			w := s.pending.Worker(name)
			if w.Live() {
				s.removing[name] = true
				if _, err := s.record(t, events.Event{Type: events.StopRequested, Worker: name, Actor: actor,
					Cause: "removed from the configuration: stopping"}); err != nil {
					return err
				}
				continue
			}
			delete(s.specs, name)
			if _, err := t.add(events.Event{Type: events.WorkerRemoved, Worker: name, Actor: actor,
				Cause: "removed from the configuration"}); err != nil {
				return err
			}
		}
		// Under mu, so it begins before the first spawn can.
		s.prepareOutputs(starting)
		return nil
	})
	if len(evs) > 0 {
		res.Seq = evs[0].Seq
	}
	return res, err
}

// Shutdown records that the daemon is stopping and, unless leaveRunning,
// stops every worker and waits (bounded by ctx) until none is live. It
// does not close the supervisor.
func (s *Supervisor) Shutdown(ctx context.Context, leaveRunning bool, cause string) error {
	_, err := s.command(ctx, func(t *txn) error {
		s.closing = true
		if _, err := t.add(events.Event{Type: events.DaemonStopping, Actor: events.ActorDaemon, Cause: cause}); err != nil {
			return err
		}
		if leaveRunning {
			return nil
		}
		for _, name := range s.pending.Names(true) {
			w := s.pending.Worker(name)
			if w.Live() || w.Policy.Pending {
				if _, err := s.record(t, events.Event{Type: events.StopRequested, Worker: name, Actor: events.ActorDaemon,
					Cause: "daemon shutting down: " + cause}); err != nil {
					return err
				}
			}
		}
		return nil
	})
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
	_, err := s.command(ctx, func(t *txn) error {
		_, err := t.add(events.Event{Type: events.CommandRefused, Actor: actor, Cause: cause})
		return err
	})
	return err
}

// rearmLocked re-arms, after a daemon restart, the timers the log says
// were running: a scheduled restart and an open breaker's cooldown. They
// are part of the state the log describes, not of the process that armed
// them.
func (s *Supervisor) rearmLocked(t *txn, w *fsm.Worker, spec *WorkerSpec) {
	switch {
	case w.Live():
	case w.Policy.Pending:
		t.effect(effect{kind: effRestartAt, worker: w.Name, inc: w.Incarnation,
			delay: w.Policy.Due.Sub(w.Since), at: w.Policy.Due})
	case w.Policy.BreakerOpen && spec.Policy.BreakerCooldown > 0 && !w.Flags.StopAsked:
		t.effect(effect{kind: effCooldown, worker: w.Name, inc: w.Incarnation,
			delay: spec.Policy.BreakerCooldown, at: w.Policy.OpenedAt.Add(spec.Policy.BreakerCooldown)})
	}
}
