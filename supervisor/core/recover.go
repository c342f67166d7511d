package core

import (
	"fmt"
	"sort"

	"github.com/tendhq/tend/events"
)

// recovered reconciles what the replayed log believed alive with what
// recovery found, and redoes every effect whose event is durable but whose
// outcome was never observed:
//
//   - an adopted Running worker gets its monitors again; a Starting one its
//     monitors and start timeout, or is running when it has none;
//   - an adopted Stopping worker gets its stop signal and stop timeout
//     again, or, when SIGKILL was already decided, SIGKILL again: a kill
//     decided before the crash may never have been sent;
//   - a Starting worker whose spawn was never reported and of which nothing
//     runs is spawned again, as the same incarnation;
//   - anything else the log believed alive and that is gone is lost, and
//     its restart policy decides what follows.
func (d *decision) recovered(in Recovered) error {
	for _, s := range in.Strays {
		if _, err := d.add(events.Event{Type: events.StrayFound, Worker: s.Worker, Incarnation: s.Inc,
			Actor: events.ActorRecovery, Details: events.Details{PID: s.PID},
			Cause: fmt.Sprintf("pid %d of incarnation %d was running but the log does not account for it: killed with its group", s.PID, s.Inc)}); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(in.Workers))
	for n := range in.Workers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		f := in.Workers[name]
		w := d.w.Worker(name)
		if w == nil || w.Incarnation != f.Inc || !w.Live() {
			continue
		}
		sp := d.st.spec(w)
		if !f.Alive {
			if w.State == events.Starting && w.PID == 0 && sp != nil && !d.w.Closing {
				// Its start was decided, its spawn never reported: make it.
				d.effect(Effect{Kind: Spawn, Worker: name, Inc: f.Inc, Digest: sp.Digest})
				continue
			}
			e, err := d.add(events.Event{Type: events.Lost, Worker: name, Incarnation: f.Inc, Actor: events.ActorRecovery,
				Cause: "lost while the daemon was down: exit status unknown", Details: events.Details{PID: w.PID}})
			if err != nil {
				return err
			}
			if err := d.afterEnd(name, e, Exit{Code: -1}); err != nil {
				return err
			}
			continue
		}
		if _, err := d.add(events.Event{Type: events.Adopted, Worker: name, Incarnation: f.Inc, Actor: events.ActorRecovery,
			Cause:   fmt.Sprintf("adopted pid %d, still running since before the daemon restarted", f.PID),
			Details: events.Details{PID: f.PID, StartTicks: f.StartTicks, BootID: f.BootID}}); err != nil {
			return err
		}
		d.effect(Effect{Kind: Watch, Worker: name, Inc: f.Inc})
		// A broken variant the property tests must catch
		// (proptest/mutants.sh): a SIGKILL decided before the crash is
		// taken as sent, and the stop is carried on instead.
		// gofail: var mutantKillNotResent struct{}
		// if d.mutantKillNotResent(name, f.Inc, w, sp) { continue }
		switch {
		case w.State == events.Stopping && w.Flags.KillSent:
			d.effect(Effect{Kind: Kill, Worker: name, Inc: f.Inc})
		case w.State == events.Stopping:
			sig, timeout := stopParams(w, sp)
			d.stopEffects(name, f.Inc, sig, timeout, d.now)
		case sp == nil:
		default:
			d.effect(Effect{Kind: StartMonitors, Worker: name, Inc: f.Inc, Digest: sp.Digest})
			switch {
			case w.State != events.Starting:
			case sp.StartTimeout > 0:
				d.effect(Effect{Kind: ArmTimer, Worker: name, Inc: f.Inc, Timer: StartTimeout, Delay: sp.StartTimeout, At: d.now.Add(sp.StartTimeout)})
			default:
				// No start timeout: running once its process exists, as
				// when it is spawned.
				if _, err := d.add(events.Event{Type: events.Ready, Worker: name, Incarnation: f.Inc, Actor: events.ActorDaemon,
					Cause: "running (no start timeout)"}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
