package core

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// load applies a configuration: added workers start (if autostart),
// changed ones restart, removed ones stop and are removed once stopped,
// the rest are left alone. A worker's settings are known by their digest,
// recorded in the log, so a reload whose commit failed is judged again
// against what the log says is in force, not against what it tried.
//
// The instances of a worker with instances are in force up to the count
// the log says (a runtime scale) while the configuration's count is the
// one that scale was decided against; a configuration with another count
// ends the runtime scale (recorded as scaled), and its count is in force.
func (d *decision) load(in Load) error {
	d.st.ExitOn = in.ExitOn
	verb := "reloaded"
	// resumed: this daemon takes over from one that ended without
	// shutting down (a crash, SIGKILL, the OOM killer, power lost), or
	// that shut down leaving its workers running (leave_running, to
	// upgrade tend); their workers ran on meanwhile. What that daemon
	// decided stands, as if it had never stopped: a worker an operator
	// stopped, a job that ended for good, is not started again because
	// the supervisor went. After any other shutdown a start is a fresh
	// one, and autostart applies to every worker that is down.
	resumed := in.First && d.w.Seq > 0 && (!d.w.Closing || d.w.LeftRunning)
	if in.First {
		verb = "loaded"
		cause := fmt.Sprintf("daemon started; log replayed to seq %d", d.w.Seq)
		switch {
		case resumed && d.w.LeftRunning:
			cause += "; the last daemon left its workers running: what it decided stands"
		case resumed:
			cause += "; the last daemon ended without shutting down: what it decided stands"
		}
		if in.About != "" {
			cause += "; " + in.About
		}
		if _, err := d.add(events.Event{Type: events.DaemonStarted, Actor: events.ActorDaemon, Cause: cause}); err != nil {
			return err
		}
	}
	counts := make(map[string]int, len(in.Groups))
	files := make(map[string]int, len(in.Groups))
	for _, g := range in.Groups {
		counts[g.Name], files[g.Name] = d.instanceCount(g.Name, g.Instances, true), g.Instances
	}
	specs := make([]*Spec, 0, len(in.Specs))
	for _, sp := range in.Specs {
		if sp.InstanceOf == "" || sp.Instance <= counts[sp.InstanceOf] {
			specs = append(specs, sp)
		}
	}
	if _, err := d.add(events.Event{Type: events.ConfigLoaded, Actor: in.Actor,
		Cause:   fmt.Sprintf("configuration %s by %s (%d workers)", verb, in.Actor, len(specs)),
		Details: events.Details{Hash: in.Hash}}); err != nil {
		return err
	}
	if err := d.endScales(files, in.Actor); err != nil {
		return err
	}
	d.st.groups = files
	if err := d.configure(specs, in.Actor, in.First, resumed, in.Changes, "added by the configuration", "back in the configuration"); err != nil {
		return err
	}
	seen := make(map[string]bool, len(specs))
	for _, sp := range specs {
		seen[sp.Name] = true
	}
	var gone []string
	for _, name := range d.w.Names(false) {
		if !seen[name] && !d.w.Worker(name).Removing {
			gone = append(gone, name)
		}
	}
	if err := d.remove(gone, in.Actor, "removed from the configuration"); err != nil {
		return err
	}
	d.prune()
	return nil
}

// instanceCount is how many instances of group are in force: a runtime
// scale's count while it holds (the configuration says file, as when it
// was decided), else file. withFile false: whatever the file says, a
// runtime scale's count (for a scale judged between loads).
func (d *decision) instanceCount(group string, file int, withFile bool) int {
	if sc, ok := d.w.Scales[group]; ok && (!withFile || sc.File == file) {
		return sc.Count
	}
	return file
}

// endScales records the end of every runtime scale the configuration
// (files: each worker with instances and its count) no longer holds: its
// count changed since the scale, or it has no instances any more.
func (d *decision) endScales(files map[string]int, actor string) error {
	names := make([]string, 0, len(d.w.Scales))
	for g := range d.w.Scales {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		sc := d.w.Scales[g]
		file, ok := files[g]
		if ok && sc.File == file {
			continue
		}
		cause := fmt.Sprintf("instances = %d in the configuration (it said %d when scaled to %d): the runtime scale ends", file, sc.File, sc.Count)
		if !ok {
			cause = fmt.Sprintf("no longer has instances in the configuration: the runtime scale to %d ends", sc.Count)
		}
		if _, err := d.add(events.Event{Type: events.Scaled, Worker: g, Actor: actor, Cause: cause,
			Details: events.Details{Instances: file, FileInstances: file}}); err != nil {
			return err
		}
	}
	return nil
}

// scale changes the number of instances of a worker with instances at
// runtime: the instances added start (if autostart), those past the new
// count stop and are removed, as a reload would do it. The scale is part
// of the log (scaled), so it outlives the daemon; it holds until a
// configuration whose count for the worker differs from the one it was
// decided against (load).
func (d *decision) scale(in Scale) error {
	file, ok := d.st.groups[in.Group]
	if !ok {
		return fmt.Errorf("%w: %q has no instances in the configuration", ErrNoWorker, in.Group)
	}
	if d.w.Closing {
		return ErrClosed
	}
	if in.Count < 0 || len(in.Specs) != in.Count {
		return fmt.Errorf("core: a scale of %s to %d needs the settings of %d instances, got %d", in.Group, in.Count, in.Count, len(in.Specs))
	}
	for i, sp := range in.Specs {
		if sp.InstanceOf != in.Group || sp.Instance != i+1 {
			return fmt.Errorf("core: a scale of %s: settings %d are of %s", in.Group, i+1, sp.Name)
		}
	}
	from := d.instanceCount(in.Group, file, false)
	d.res.ScaledFrom = from
	if _, err := d.add(events.Event{Type: events.Scaled, Worker: in.Group, Actor: in.Actor,
		Cause:   fmt.Sprintf("scaled from %d to %d instances by %s", from, in.Count, in.Actor),
		Details: events.Details{Instances: in.Count, FileInstances: file}}); err != nil {
		return err
	}
	why := fmt.Sprintf("scaled to %d by %s", in.Count, in.Actor)
	if err := d.configure(in.Specs, in.Actor, false, false, nil, why, why); err != nil {
		return err
	}
	var gone []string
	for _, name := range d.w.Names(false) {
		w := d.w.Worker(name)
		if g, i, ok := SplitInstance(name); ok && g == in.Group && i > in.Count && !w.Removing {
			gone = append(gone, name)
		}
	}
	sort.Slice(gone, func(a, b int) bool {
		_, i, _ := SplitInstance(gone[a])
		_, j, _ := SplitInstance(gone[b])
		return i < j
	})
	if err := d.remove(gone, in.Actor, "removed: "+why); err != nil {
		return err
	}
	d.prune()
	return nil
}

// configure puts specs in force: a worker new to the log (or back after
// its removal) is added, one whose settings changed is changed (and, on a
// reload, restarted if it runs), the rest are left alone. First: the
// daemon's first load (nothing restarts; what the log left scheduled is
// resumed). Resumed: a first load that takes over from the last daemon
// (see load), where a worker whose settings are those it ran with keeps
// its state, so autostart starts only those added or changed meanwhile.
// added and back are the causes of a start of an added worker, and of one
// back before its removal ended.
func (d *decision) configure(specs []*Spec, actor string, first, resumed bool, changes map[string][]string, added, back string) error {
	// First the configuration itself: which workers exist with which
	// settings. Only then what it starts, so a worker can depend on one
	// that comes later in the file.
	type todo struct {
		sp      *Spec
		added   bool
		changed bool // a reload changed it; back: it was being removed
		back    bool
		kept    bool // resumed with the settings it ran with: its state stands
	}
	todos := make([]todo, 0, len(specs))
	for _, sp := range specs {
		d.st.Specs[sp.Digest] = sp
		if sp.Schedule != nil {
			d.st.Scheduled = true
		}
		w := d.w.Worker(sp.Name)
		t := todo{sp: sp}
		switch {
		case w == nil || w.Removed:
			if _, err := d.add(events.Event{Type: events.WorkerAdded, Worker: sp.Name, Actor: actor,
				Cause: added, Details: events.Details{Hash: sp.Digest}}); err != nil {
				return err
			}
			d.res.Added = append(d.res.Added, sp.Name)
			t.added = true
		case w.Spec != sp.Digest || w.Removing:
			cause := "configuration changed"
			if keys := changedKeys(changes[sp.Name]); keys != "" && !w.Removing {
				cause += ": " + keys
			}
			if first {
				// The settings changed while no daemon ran: the log learns
				// the new ones, and a process still running keeps the old
				// ones until it restarts.
				cause = "settings in force at daemon start"
			} else {
				d.res.Changed = append(d.res.Changed, sp.Name)
				t.changed, t.back = true, w.Removing
			}
			if _, err := d.add(events.Event{Type: events.WorkerChanged, Worker: sp.Name, Actor: actor,
				Cause: cause, Details: events.Details{Hash: sp.Digest}}); err != nil {
				return err
			}
		default:
			t.kept = resumed
		}
		todos = append(todos, t)
	}
	d.st.reindex()
	var starting []string
	for _, t := range todos {
		sp := t.sp
		w := d.w.Worker(sp.Name)
		if sp.Schedule != nil && (first || t.added || t.changed) {
			// A scheduled worker runs when its runs are due, not at load.
			if err := d.schedule(w, sp, first); err != nil {
				return err
			}
		}
		switch {
		case t.added || first:
			if first && w.Flags.RestartAfter && !w.Live() && sp.Schedule == nil && w.Waiting == "" {
				// A restart whose end is recorded and whose start is not:
				// one decision records both, so only a log cut between
				// them (by `tend recover`) ends here. The restart decided
				// is carried out, autostart or not.
				if _, err := d.start(sp.Name, events.StartRequested, w.Flags.RestartActor, "starting again: restart requested by "+w.Flags.RestartActor); err != nil {
					return err
				}
				starting = append(starting, sp.Digest)
			} else if sp.Autostart && !t.kept && sp.Schedule == nil && !w.Live() && !w.Policy.Pending && !w.Policy.BreakerOpen && w.Waiting == "" {
				if _, err := d.start(sp.Name, events.StartRequested, actor, "autostart"); err != nil {
					return err
				}
				starting = append(starting, sp.Digest)
			}
			if first && !t.added {
				d.rearm(w, sp)
			}
		case t.back && sp.Autostart:
			// Removed while running, and back before it stopped: it
			// starts again once it has.
			if _, err := d.start(sp.Name, events.StartRequested, actor, back); err != nil {
				return err
			}
		case t.changed && !t.back && w.Live():
			cause := "configuration changed: restarting"
			if keys := changedKeys(changes[sp.Name]); keys != "" {
				cause = "configuration changed (" + keys + "): restarting"
			}
			if _, err := d.record(events.Event{Type: events.RestartRequested, Worker: sp.Name, Actor: actor,
				Cause: cause}); err != nil {
				return err
			}
		}
	}
	if len(starting) > 0 {
		d.effect(Effect{Kind: Prepare, Digests: starting})
	}
	return nil
}

// remove takes workers out of the configuration: one that runs is stopped
// first and removed once it has stopped (exit.go), the others at once.
func (d *decision) remove(names []string, actor, cause string) error {
	for _, name := range names {
		w := d.w.Worker(name)
		d.res.Removed = append(d.res.Removed, name)
		if w.Live() {
			if _, err := d.add(events.Event{Type: events.WorkerChanged, Worker: name, Actor: actor,
				Cause: cause}); err != nil {
				return err
			}
			if _, err := d.record(events.Event{Type: events.StopRequested, Worker: name, Actor: actor,
				Cause: cause + ": stopping"}); err != nil {
				return err
			}
			continue
		}
		if _, err := d.add(events.Event{Type: events.WorkerRemoved, Worker: name, Actor: actor,
			Cause: cause}); err != nil {
			return err
		}
		d.effect(Effect{Kind: Forget, Worker: name})
	}
	return nil
}

// maxKeysInCause bounds the keys a cause names; the rest are counted.
const maxKeysInCause = 8

// changedKeys lists keys for a cause: "env_file, stop_timeout".
func changedKeys(keys []string) string {
	if len(keys) <= maxKeysInCause {
		return strings.Join(keys, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(keys[:maxKeysInCause], ", "), len(keys)-maxKeysInCause)
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
// every scheduled restart is stopped. A daemon already stopping (its
// exit_on setting decided so) records it once.
func (d *decision) shutdown(in Shutdown) error {
	if !d.w.Closing {
		e := events.Event{Type: events.DaemonStopping, Actor: events.ActorDaemon, Cause: in.Cause}
		if in.LeaveRunning {
			e.Policy = fsm.LeaveRunning
		}
		if _, err := d.add(e); err != nil {
			return err
		}
	}
	if in.LeaveRunning {
		return nil
	}
	return d.stopAll("daemon shutting down: " + in.Cause)
}

// stopAll stops every live worker, every scheduled restart and every
// waiting start, in reverse dependency order: each worker stops once what
// depends on it has stopped.
func (d *decision) stopAll(cause string) error {
	for _, name := range d.w.Names(true) {
		w := d.w.Worker(name)
		if w.State == events.Stopping && w.Flags.StopAsked || w.Waiting == "stop" {
			continue // already asked, as what depends on a worker stopped before
		}
		if w.Live() || w.Policy.Pending || w.Waiting != "" {
			if _, err := d.stop(name, events.ActorDaemon, cause, false, 0); err != nil {
				return err
			}
		}
	}
	return nil
}
