package core

import (
	"fmt"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// load applies a configuration: added workers start (if autostart),
// changed ones restart, removed ones stop and are removed once stopped,
// the rest are left alone. A worker's settings are known by their digest,
// recorded in the log, so a reload whose commit failed is judged again
// against what the log says is in force, not against what it tried.
func (d *decision) load(in Load) error {
	verb := "reloaded"
	if in.First {
		verb = "loaded"
		cause := fmt.Sprintf("daemon started; log replayed to seq %d", d.w.Seq)
		if in.About != "" {
			cause += "; " + in.About
		}
		if _, err := d.add(events.Event{Type: events.DaemonStarted, Actor: events.ActorDaemon, Cause: cause}); err != nil {
			return err
		}
	}
	if _, err := d.add(events.Event{Type: events.ConfigLoaded, Actor: in.Actor,
		Cause:   fmt.Sprintf("configuration %s by %s (%d workers)", verb, in.Actor, len(in.Specs)),
		Details: events.Details{Hash: in.Hash}}); err != nil {
		return err
	}
	// First the configuration itself: which workers exist with which
	// settings. Only then what it starts, so a worker can depend on one
	// that comes later in the file.
	seen := make(map[string]bool, len(in.Specs))
	type todo struct {
		sp      *Spec
		added   bool
		changed bool // a reload changed it; back: it was being removed
		back    bool
	}
	todos := make([]todo, 0, len(in.Specs))
	for _, sp := range in.Specs {
		seen[sp.Name] = true
		d.st.Specs[sp.Digest] = sp
		w := d.w.Worker(sp.Name)
		t := todo{sp: sp}
		switch {
		case w == nil || w.Removed:
			if _, err := d.add(events.Event{Type: events.WorkerAdded, Worker: sp.Name, Actor: in.Actor,
				Cause: "added by the configuration", Details: events.Details{Hash: sp.Digest}}); err != nil {
				return err
			}
			d.res.Added = append(d.res.Added, sp.Name)
			t.added = true
		case w.Spec != sp.Digest || w.Removing:
			cause := "configuration changed"
			if in.First {
				// The settings changed while no daemon ran: the log learns
				// the new ones, and a process still running keeps the old
				// ones until it restarts.
				cause = "settings in force at daemon start"
			} else {
				d.res.Changed = append(d.res.Changed, sp.Name)
				t.changed, t.back = true, w.Removing
			}
			if _, err := d.add(events.Event{Type: events.WorkerChanged, Worker: sp.Name, Actor: in.Actor,
				Cause: cause, Details: events.Details{Hash: sp.Digest}}); err != nil {
				return err
			}
		}
		todos = append(todos, t)
	}
	d.st.reindex()
	var starting []string
	for _, t := range todos {
		sp := t.sp
		w := d.w.Worker(sp.Name)
		if sp.Schedule != nil && (in.First || t.added || t.changed) {
			// A scheduled worker runs when its runs are due, not at load.
			if err := d.schedule(w, sp, in.First); err != nil {
				return err
			}
		}
		switch {
		case t.added || in.First:
			if sp.Autostart && sp.Schedule == nil && !w.Live() && !w.Policy.Pending && !w.Policy.BreakerOpen && w.Waiting == "" {
				if _, err := d.start(sp.Name, events.StartRequested, in.Actor, "autostart"); err != nil {
					return err
				}
				starting = append(starting, sp.Digest)
			}
			if in.First && !t.added {
				d.rearm(w, sp)
			}
		case t.back && sp.Autostart:
			// Removed while running, and back before it stopped: it
			// starts again once it has.
			if _, err := d.start(sp.Name, events.StartRequested, in.Actor, "back in the configuration"); err != nil {
				return err
			}
		case t.changed && !t.back && w.Live():
			if _, err := d.record(events.Event{Type: events.RestartRequested, Worker: sp.Name, Actor: in.Actor,
				Cause: "configuration changed: restarting"}); err != nil {
				return err
			}
		}
	}
	for _, name := range d.w.Names(false) {
		w := d.w.Worker(name)
		if seen[name] || w.Removing {
			continue
		}
		d.res.Removed = append(d.res.Removed, name)
		if w.Live() {
			if _, err := d.add(events.Event{Type: events.WorkerChanged, Worker: name, Actor: in.Actor,
				Cause: "removed from the configuration"}); err != nil {
				return err
			}
			if _, err := d.record(events.Event{Type: events.StopRequested, Worker: name, Actor: in.Actor,
				Cause: "removed from the configuration: stopping"}); err != nil {
				return err
			}
			continue
		}
		if _, err := d.add(events.Event{Type: events.WorkerRemoved, Worker: name, Actor: in.Actor,
			Cause: "removed from the configuration"}); err != nil {
			return err
		}
		d.effect(Effect{Kind: Forget, Worker: name})
	}
	if len(starting) > 0 {
		d.effect(Effect{Kind: Prepare, Digests: starting})
	}
	d.prune()
	return nil
}

// rearm re-arms, after a daemon restart, the timers the log says were
// running: a scheduled restart and an open breaker's cooldown. They are
// part of the state the log describes, not of the process that armed them.
func (d *decision) rearm(w *fsm.Worker, sp *Spec) {
	switch {
	case w.Live():
	case w.Policy.Pending:
		d.effect(Effect{Kind: ArmTimer, Worker: w.Name, Inc: w.Incarnation, Timer: RestartDue,
			Delay: w.Policy.Due.Sub(w.Since), At: w.Policy.Due})
	case w.Policy.BreakerOpen && sp.Policy.BreakerCooldown > 0 && !w.Flags.StopAsked:
		d.effect(Effect{Kind: ArmTimer, Worker: w.Name, Inc: w.Incarnation, Timer: Cooldown,
			Delay: sp.Policy.BreakerCooldown, At: w.Policy.OpenedAt.Add(sp.Policy.BreakerCooldown)})
	}
}

// prune drops settings no worker names any more.
func (d *decision) prune() {
	used := make(map[string]bool, len(d.w.Workers))
	for _, w := range d.w.Workers {
		if !w.Removed {
			used[w.Spec] = true
		}
	}
	for dg := range d.st.Specs {
		if !used[dg] {
			delete(d.st.Specs, dg)
		}
	}
}

// shutdown records that the daemon is stopping: nothing starts from now on,
// and (unless the workers are to be left running) every live worker and
// every scheduled restart is stopped.
func (d *decision) shutdown(in Shutdown) error {
	if _, err := d.add(events.Event{Type: events.DaemonStopping, Actor: events.ActorDaemon, Cause: in.Cause}); err != nil {
		return err
	}
	if in.LeaveRunning {
		return nil
	}
	// In reverse dependency order: each worker stops once what depends on
	// it has stopped.
	for _, name := range d.w.Names(true) {
		w := d.w.Worker(name)
		if w.State == events.Stopping && w.Flags.StopAsked || w.Waiting == "stop" {
			continue // already asked, as what depends on a worker stopped before
		}
		if w.Live() || w.Policy.Pending || w.Waiting != "" {
			if _, err := d.stop(name, events.ActorDaemon, "daemon shutting down: "+in.Cause, false, 0); err != nil {
				return err
			}
		}
	}
	return nil
}
