package supervisor

import (
	"context"
	"syscall"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/proc"
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
			continue
		}
		used[id.PID] = true
		pid := p.Identity()
		found[l.name] = core.Found{Inc: l.inc, Alive: true, PID: pid.PID, StartTicks: pid.StartTicks, BootID: pid.BootID}
		ctx, cancel := context.WithCancel(s.ctx)
		rts = append(rts, &incarnation{worker: l.name, inc: l.inc, proc: p, ctx: ctx, cancel: cancel})
	}
	// Marked processes nobody owns: ours, but not in the log's state.
	var strays []core.Stray
	for _, m := range marked {
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
	b, err := s.step(core.Recovered{Workers: found, Strays: strays})
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
