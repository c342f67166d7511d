package supervisor

import (
	"context"
	"syscall"
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
	Adopt(worker string, inc uint64, id proc.Identity) (Process, error)
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

// killHooks kills, with their process groups, the hooks an earlier daemon
// of this log started that still run, and waits for them to be gone, so a
// hook run again never runs beside its earlier self. Those of workers the
// log knows are returned, to be recorded.
func (s *Supervisor) killHooks(ad Adopter, marked []proc.Marked, past map[string]events.Incarnation) []core.HookFound {
	var out []core.HookFound
	for _, m := range marked {
		if m.Hook == "" || m.HookRun == s.runID {
			continue // a worker, or a hook of this daemon's own
		}
		p, err := ad.Adopt(m.Worker, 0, m.Identity)
		if err != nil {
			continue // gone meanwhile
		}
		_ = p.Signal(syscall.SIGKILL)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(hookKillWait):
			s.logger.Warn().Str("worker", m.Worker).Str("hook", m.Hook).Int("pid", m.Identity.PID).
				Msg("recovery: a hook of the last daemon was killed but is not gone yet")
		}
		if _, known := past[m.Worker]; known {
			out = append(out, core.HookFound{Worker: m.Worker, Kind: m.Hook, Inc: events.Incarnation(m.HookInc), PID: m.Identity.PID})
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
//     (pid, start time and boot id, never the pid alone) is adopted;
//   - a process of this daemon that the log's state does not account for
//     (spawned just before a crash, before its spawn was durable) is
//     adopted when it is the worker's current incarnation, the log knows
//     no other pid for it, and it started first of the processes carrying
//     that incarnation's markers; any other is killed with its group and
//     recorded as a stray.
//
// A pid that now belongs to some other process is never adopted or
// signalled.
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
	var marked []proc.Marked
	if ad != nil && s.cfg.Instance != "" && len(past) > 0 {
		var err error
		if marked, err = ad.FindMarked(s.cfg.Instance); err != nil {
			s.logger.Warn().Err(err).Msg("recovery: could not scan for this daemon's processes")
		}
	}
	var rts []*incarnation
	used := make(map[int]bool)
	for _, l := range wants {
		if ad == nil {
			break
		}
		id := l.id
		if id.PID == 0 {
			// Spawned, but the log never learned the pid: the markers tell.
			// Every process of the incarnation carries them, escapees in
			// sessions of their own too; the one that started first is the
			// one the daemon spawned, since the others descend from it.
			// Within one clock tick the lower pid, the usual order of
			// allocation, is taken.
			for _, m := range marked {
				if m.Worker == l.name && m.Incarnation == uint64(l.inc) && (id.PID == 0 || m.Identity.StartTicks < id.StartTicks ||
					m.Identity.StartTicks == id.StartTicks && m.Identity.PID < id.PID) {
					id = m.Identity
				}
			}
		}
		// A broken variant the property tests must catch
		// (proptest/mutants.sh): a process recognised by its pid alone.
		// gofail: var mutantAdoptByPID struct{}
		// id = mutantByPID(id, marked)
		if id.PID == 0 {
			continue
		}
		p, err := ad.Adopt(l.name, uint64(l.inc), id)
		if err != nil {
			finishLostRelay(s.replayed.Worker(l.name))
			continue
		}
		used[id.PID] = true
		pid := p.Identity()
		f := core.Found{Inc: l.inc, Alive: true, PID: pid.PID, StartTicks: pid.StartTicks, BootID: pid.BootID}
		// Its output relay, by the identity the log recorded: the next
		// incarnation's relay must not write its files beside it.
		var rl *relay.Handle
		if w := s.replayed.Worker(l.name); w.RelayPID != 0 {
			if h, err := relay.Adopt(proc.Identity{PID: w.RelayPID, StartTicks: w.RelayStartTicks, BootID: w.BootID}); err == nil {
				rl = h
				f.RelayPID, f.RelayStartTicks = w.RelayPID, w.RelayStartTicks
			}
		}
		found[l.name] = f
		ctx, cancel := context.WithCancel(s.ctx)
		rts = append(rts, &incarnation{worker: l.name, inc: l.inc, proc: p, relay: rl, ctx: ctx, cancel: cancel})
	}
	// Hooks an earlier daemon started die before anything runs them again.
	hooks := s.killHooks(ad, marked, past)
	// Marked processes nobody owns: ours, but not in the log's state.
	var strays []core.Stray
	for _, m := range marked {
		if m.Hook != "" {
			continue
		}
		// Only the past is reconciled: a worker or incarnation the log did
		// not have when this daemon started is this daemon's own.
		if inc, known := past[m.Worker]; used[m.Identity.PID] || !known || events.Incarnation(m.Incarnation) > inc {
			continue
		}
		if p, err := ad.Adopt(m.Worker, m.Incarnation, m.Identity); err == nil {
			_ = p.Signal(syscall.SIGKILL)
			strays = append(strays, core.Stray{Worker: m.Worker, Inc: events.Incarnation(m.Incarnation), PID: m.Identity.PID})
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
	b, err := s.step(core.Recovered{Workers: found, Strays: strays, Hooks: hooks, Seq: s.replayed.Seq})
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
