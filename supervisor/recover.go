package supervisor

import (
	"context"
	"fmt"
	"syscall"

	"github.com/tendhq/tend/events"
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

// Recover reconciles the replayed log with the OS, after the first Load:
//
//   - a worker the log says is live whose process is still the same process
//     (pid, start time and boot id, never the pid alone) is adopted: watched
//     through a pidfd and from then on treated like any other;
//   - a worker the log says is live whose process is gone is recorded as
//     lost (exit status unknown) and handed to its restart policy;
//   - a process carrying this daemon's markers that the log's state does
//     not account for (spawned just before a crash, before its spawn was
//     durable) is adopted when it is the worker's current incarnation and
//     the log knows no other pid for it; any other is killed with its group
//     and recorded as a stray.
//
// A pid that now belongs to some other process is never adopted or
// signalled. Every step is an event.
func (s *Supervisor) Recover(ctx context.Context) error {
	type live struct {
		name  string
		inc   events.Incarnation
		id    proc.Identity
		state events.State
	}
	// Only what the log said before this daemon started is recovered:
	// workers this daemon has started since are its own.
	var want []live
	past := make(map[string]events.Incarnation)
	for _, name := range s.replayed.Names(true) {
		w := s.replayed.Worker(name)
		past[name] = w.Incarnation
		if w.Live() {
			want = append(want, live{name: name, inc: w.Incarnation, state: w.State,
				id: proc.Identity{PID: w.PID, StartTicks: w.StartTicks, BootID: w.BootID}})
		}
	}

	ad, _ := s.cfg.Spawner.(Adopter)
	var marked []proc.Marked
	if ad != nil && s.cfg.Instance != "" {
		var err error
		if marked, err = ad.FindMarked(s.cfg.Instance); err != nil {
			s.logger.Warn().Err(err).Msg("recovery: could not scan for this daemon's processes")
		}
	}
	adopted := make(map[string]Process)
	used := make(map[int]bool)
	for _, l := range want {
		if ad == nil {
			break
		}
		id := l.id
		if id.PID == 0 {
			// Spawned, but the log never learned the pid: the markers tell.
			for _, m := range marked {
				if m.Worker == l.name && m.Incarnation == uint64(l.inc) {
					id = m.Identity
				}
			}
		}
		if id.PID == 0 {
			continue
		}
		if p, err := ad.Adopt(l.name, uint64(l.inc), id); err == nil {
			adopted[l.name] = p
			used[id.PID] = true
		}
	}
	// Marked processes nobody owns: ours, but not in the log's state.
	var strays []proc.Marked
	for _, m := range marked {
		// Only the past is reconciled: a worker or incarnation the log did
		// not have when this daemon started is this daemon's own.
		if inc, known := past[m.Worker]; used[m.Identity.PID] || !known || events.Incarnation(m.Incarnation) > inc {
			continue
		}
		if p, err := ad.Adopt(m.Worker, m.Incarnation, m.Identity); err == nil {
			_ = p.Signal(syscall.SIGKILL)
			strays = append(strays, m)
		}
	}

	var rts []*incarnation
	b, err := s.transact(func(t *txn) error {
		for _, m := range strays {
			if _, err := t.add(events.Event{Type: events.StrayFound, Worker: m.Worker, Incarnation: events.Incarnation(m.Incarnation),
				Actor: events.ActorRecovery, Details: events.Details{PID: m.Identity.PID},
				Cause: fmt.Sprintf("pid %d of incarnation %d was running but the log does not account for it: killed with its group", m.Identity.PID, m.Incarnation)}); err != nil {
				return err
			}
		}
		for _, l := range want {
			w := s.pending.Worker(l.name)
			if w == nil || w.Incarnation != l.inc || !w.Live() {
				continue
			}
			p := adopted[l.name]
			if p == nil {
				e, err := t.add(events.Event{Type: events.Lost, Worker: l.name, Incarnation: l.inc, Actor: events.ActorRecovery,
					Cause: "lost while the daemon was down: exit status unknown", Details: events.Details{PID: l.id.PID}})
				if err != nil {
					return err
				}
				if err := s.afterEnd(t, l.name, e, -1, 0); err != nil {
					return err
				}
				continue
			}
			id := p.Identity()
			if _, err := t.add(events.Event{Type: events.Adopted, Worker: l.name, Incarnation: l.inc, Actor: events.ActorRecovery,
				Cause:   fmt.Sprintf("adopted pid %d, still running since before the daemon restarted", id.PID),
				Details: events.Details{PID: id.PID, StartTicks: id.StartTicks, BootID: id.BootID}}); err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(s.ctx)
			rt := &incarnation{worker: l.name, inc: l.inc, proc: p, ctx: ctx, cancel: cancel}
			s.rtMu.Lock()
			s.rts[l.name] = rt
			s.rtMu.Unlock()
			rts = append(rts, rt)
			spec := s.specs[l.name]
			if spec == nil {
				continue
			}
			if w.State == events.Stopping {
				t.effect(effect{kind: effSignal, worker: l.name, inc: l.inc, sig: spec.StopSignal})
				t.effect(effect{kind: effStopTimer, worker: l.name, inc: l.inc, delay: spec.StopTimeout, at: s.clock.Now().Add(spec.StopTimeout)})
			} else {
				t.effect(effect{kind: effMonitors, worker: l.name, inc: l.inc, spec: spec})
			}
		}
		return nil
	})
	// Waiters start once the adoptions are in the log's order, so an exit
	// is always recorded after its adoption.
	for _, rt := range rts {
		s.waiters.Add(1)
		go s.wait(rt.worker, rt)
	}
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
