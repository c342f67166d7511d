package supervisor

import (
	"context"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/proc"
	"github.com/tendhq/tend/supervisor/relay"
)

// Adopter finds and takes over workers a previous daemon left running.
// *proc.Spawner (through ProcSpawner) is the real one; a Spawner that is not
// an Adopter makes every surviving worker "lost".
type Adopter interface {
	// Adopt takes over the incarnation's main process, known by its
	// recorded identity (never by its pid alone).
	Adopt(worker string, inc uint64, id proc.Identity) (Process, error)
	// Leftovers lists what earlier daemons of this instance left behind:
	// each incarnation's cgroup or, without cgroups, the process group
	// leaders carrying its markers in sessions the Adopter trusts, which
	// the adoptions made before teach it.
	Leftovers(instance string) ([]proc.Leftover, error)
	// Discard ends a leftover that is not adopted: killed (kill) or left
	// running, and what it holds in the OS released once it is empty. It
	// says how many processes it killed.
	Discard(l proc.Leftover, kill bool) (int, error)
	// LeftoverHooks lists the hooks earlier daemons of this instance left
	// running: each hook's cgroup or, without cgroups, the process group
	// leaders carrying a hook's markers in sessions the Adopter trusts
	// (adoptions first, as for Leftovers).
	LeftoverHooks(instance string) ([]proc.HookLeftover, error)
	// EndHook kills such a hook with everything of it and waits up to
	// wait for it to be gone.
	EndHook(h proc.HookLeftover, wait time.Duration) error
	// FindMarked lists the process group leaders carrying this instance's
	// markers, whatever their session: only a broken variant of recovery
	// (mutantByPID) believes them.
	FindMarked(instance string) ([]proc.Marked, error)
}

// Adopt implements Adopter.
func (s ProcSpawner) Adopt(worker string, inc uint64, id proc.Identity) (Process, error) {
	p, err := s.Spawner.Adopt(worker, inc, id)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// FindMarked implements Adopter.
func (ProcSpawner) FindMarked(instance string) ([]proc.Marked, error) {
	return proc.FindMarked(instance)
}

var _ Adopter = ProcSpawner{}

// hookKillWait bounds how long recovery waits for a killed hook to be
// gone: SIGKILL is not refused, but a process in uninterruptible sleep
// dies only when it wakes.
const hookKillWait = 5 * time.Second

// killHooks kills the hooks an earlier daemon of this log started that
// still run, each with its cgroup (or, without cgroups, its process
// group), and waits for them to be gone, so a hook run again never runs
// beside its earlier self. Those of workers the log knows are returned,
// to be recorded.
func (s *Supervisor) killHooks(ad Adopter, left []proc.HookLeftover, past map[string]events.Incarnation) []core.HookFound {
	var out []core.HookFound
	for _, h := range left {
		if h.Run == s.runID && h.Run != "" {
			continue // a hook of this daemon's own
		}
		if err := ad.EndHook(h, hookKillWait); err != nil {
			s.logger.Warn().Err(err).Str("worker", h.Worker).Str("hook", h.Kind).Int("pid", h.Leader.PID).
				Msg("recovery: a hook of the last daemon could not be ended")
		}
		if _, known := past[h.Worker]; known {
			f := core.HookFound{Worker: h.Worker, Kind: h.Kind, Inc: events.Incarnation(h.Incarnation), PID: h.Leader.PID}
			if h.Cgroup {
				f.Procs = h.Procs
			}
			out = append(out, f)
		}
	}
	return out
}

// Recover reconciles the replayed log with the OS, after the first Load.
// It gathers what the OS holds, outside the lock, then hands it to
// core.Step as one input, which records every finding and redoes every
// effect whose outcome the log never saw (see core's Recovered):
//
//   - a worker the log says is live whose process is still the same process
//     (pid, start time and boot id, never the pid alone) is adopted, with
//     its cgroup where it has one;
//   - a worker the log was starting, whose pid it never learned (spawned
//     just before a crash, before its spawn was durable), is adopted when
//     what the previous daemon left of that very incarnation has a main
//     process: the first-born of its cgroup or, without cgroups, a process
//     group leader carrying its markers in a session of tend's;
//   - anything else left of a past incarnation is killed (cgroup.kill:
//     nothing of it escapes) and recorded as a stray, unless its worker
//     leaves the rest of an incarnation running (on_leader_exit =
//     "leave"); empty cgroups of the past are removed.
//
// A pid that now belongs to some other process is never adopted or
// signalled, and nor is a process that only copied a worker's markers.
// Incarnations this daemon started itself (after the log it replayed)
// are its own, and not touched.
func (s *Supervisor) Recover(ctx context.Context) error {
	// Only what the log said before this daemon started is recovered:
	// workers this daemon has started since are its own.
	found := make(map[string]core.Found)
	past := make(map[string]events.Incarnation)
	type want struct {
		name string
		inc  events.Incarnation
		id   proc.Identity
	}
	var wants []want
	for _, name := range s.replayed.Names(true) {
		w := s.replayed.Worker(name)
		past[name] = w.Incarnation
		if w.Live() {
			wants = append(wants, want{name, w.Incarnation, proc.Identity{PID: w.PID, StartTicks: w.StartTicks, BootID: w.BootID}})
			found[name] = core.Found{Inc: w.Incarnation}
		}
	}
	ad, _ := s.cfg.Spawner.(Adopter)
	type key struct {
		worker string
		inc    events.Incarnation
	}
	adopted := make(map[key]bool)
	var rts []*incarnation
	adopt := func(name string, inc events.Incarnation, id proc.Identity) {
		p, err := ad.Adopt(name, uint64(inc), id)
		if err != nil {
			return
		}
		adopted[key{name, inc}] = true
		pid := p.Identity()
		f := core.Found{Inc: inc, Alive: true, PID: pid.PID, StartTicks: pid.StartTicks, BootID: pid.BootID}
		// Its output relay, by the identity the log recorded: the next
		// incarnation's relay must not write its files beside it.
		var rl *relay.Handle
		if w := s.replayed.Worker(name); w.RelayPID != 0 {
			if h, err := relay.Adopt(proc.Identity{PID: w.RelayPID, StartTicks: w.RelayStartTicks, BootID: w.BootID}); err == nil {
				rl = h
				f.RelayPID, f.RelayStartTicks = w.RelayPID, w.RelayStartTicks
			}
		}
		found[name] = f
		ctx, cancel := context.WithCancel(s.ctx)
		rts = append(rts, &incarnation{worker: name, inc: inc, proc: p, relay: rl, ctx: ctx, cancel: cancel})
	}
	if ad != nil {
		// First by the log's identities: they also tell the Adopter which
		// sessions are tend's.
		for _, l := range wants {
			if l.id.PID != 0 {
				id := l.id
				// A broken variant the property tests must catch
				// (proptest/mutants.sh): a process recognised by its pid
				// alone.
				// gofail: var mutantAdoptByPID struct{}
				// id = s.mutantByPID(ad, id)
				adopt(l.name, l.inc, id)
			}
		}
	}
	var left []proc.Leftover
	if ad != nil && s.cfg.Instance != "" && len(past) > 0 {
		var err error
		if left, err = ad.Leftovers(s.cfg.Instance); err != nil {
			s.logger.Warn().Err(err).Msg("recovery: could not list what the previous daemon left")
		}
	}
	for _, l := range wants {
		if l.id.PID != 0 {
			continue
		}
		// Spawned, but the log never learned the pid: what is left of
		// that incarnation tells.
		for _, lo := range left {
			if lo.Worker == l.name && events.Incarnation(lo.Incarnation) == l.inc && lo.Leader.PID != 0 && !adopted[key{l.name, l.inc}] {
				adopt(l.name, l.inc, lo.Leader)
			}
		}
	}
	// A live incarnation not adopted ended while no daemon ran: its relay
	// writes what is left before the next incarnation's starts.
	for _, l := range wants {
		if !adopted[key{l.name, l.inc}] {
			finishLostRelay(s.replayed.Worker(l.name))
		}
	}
	// Hooks an earlier daemon started die before anything runs them again.
	var hooks []core.HookFound
	if ad != nil && s.cfg.Instance != "" && len(past) > 0 {
		left, err := ad.LeftoverHooks(s.cfg.Instance)
		if err != nil {
			s.logger.Warn().Err(err).Msg("recovery: could not list the last daemon's hooks")
		}
		hooks = s.killHooks(ad, left, past)
	}
	var strays []core.Stray
	for _, lo := range left {
		inc := events.Incarnation(lo.Incarnation)
		// Only the past is reconciled: a worker or incarnation the log
		// did not have when this daemon started is this daemon's own. An
		// adopted incarnation's leftovers are part of it.
		if last, known := past[lo.Worker]; !known || inc > last || adopted[key{lo.Worker, inc}] {
			continue
		}
		kill := true
		if sp := s.Spec(lo.Worker); sp != nil && sp.OnLeaderExit == core.Leave {
			kill = false
		}
		n, err := ad.Discard(lo, kill)
		if err != nil {
			s.logger.Warn().Err(err).Str("worker", lo.Worker).Uint64("incarnation", lo.Incarnation).Msg("recovery: could not end a leftover")
		}
		if n > 0 {
			st := core.Stray{Worker: lo.Worker, Inc: inc, PID: lo.Leader.PID}
			if lo.Cgroup {
				st.Procs = n
			}
			strays = append(strays, st)
		}
	}
	// The adopted runtimes are in place before the decision, whose
	// effects (watch, monitors, signals) are aimed at them.
	for _, rt := range rts {
		rt.spec = s.Spec(rt.worker)
		if rt.spec == nil {
			rt.spec = &WorkerSpec{}
		}
		s.ex.install(rt)
	}
	seq := s.replayed.Seq
	// Reconciled: the copy of the log's state it was is not needed again,
	// and it holds the state of every worker the log knows.
	s.replayed = fsm.NewWorld()
	s.replayed.Seq = seq
	b, err := s.step(core.Recovered{Workers: found, Strays: strays, Hooks: hooks, Seq: seq})
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

// finishLostRelay lets the relay of an incarnation that ended while no
// daemon ran write what is left, and kills it past relayFinish (something
// that escaped the incarnation may hold its pipe): the next incarnation's
// relay must not write the same files beside it.
func finishLostRelay(w *fsm.Worker) {
	if w == nil || w.RelayPID == 0 {
		return
	}
	if h, err := relay.Adopt(proc.Identity{PID: w.RelayPID, StartTicks: w.RelayStartTicks, BootID: w.BootID}); err == nil {
		h.Finish(relayFinish)
	}
}
