package core

import (
	"fmt"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// This file is scheduled runs: a worker with a schedule (cron or a fixed
// period) is started when a run is due. Each run's due time is recorded
// with the start (planned) beside the event's own time (actual), and a run
// that does not start (the last one still going, or missed while no daemon
// ran) is recorded as run_skipped. The next run is always computed from the
// last one the log recorded, so a restart of the daemon neither repeats
// nor forgets a run.

// maxCatchUp bounds the missed runs counted after a long outage.
const maxCatchUp = 100_000

// planNext arms the timer of the first run due after after.
func (d *decision) planNext(w *fsm.Worker, sp *Spec, after time.Time) {
	next := sp.Schedule.Next(after)
	if next.IsZero() {
		return // the schedule has no further run
	}
	d.effect(Effect{Kind: ArmTimer, Worker: w.Name, Inc: w.Incarnation, Timer: ScheduleDue,
		Digest: sp.Digest, At: next, Delay: next.Sub(d.now)})
}

// schedule arms a scheduled worker's next run at a load (the first of a
// daemon, or one that added or changed the worker); at the first load it
// first settles what was missed while no daemon ran.
func (d *decision) schedule(w *fsm.Worker, sp *Spec, first bool) error {
	if sp.Schedule == nil || sp.Schedule.Next == nil {
		return nil
	}
	from := d.now
	if first && !w.LastPlanned.IsZero() {
		missed, last, n := sp.Schedule.Next(w.LastPlanned), time.Time{}, 0
		for t := missed; !t.IsZero() && !t.After(d.now) && n < maxCatchUp; t = sp.Schedule.Next(t) {
			last, n = t, n+1
		}
		if n > 0 {
			if sp.Schedule.CatchUp == "once" && !w.Live() {
				if _, err := d.run(w.Name, last, fmt.Sprintf("catching up: %d run(s) due from %s to %s were missed while no daemon ran (catch_up = once)",
					n, fmtTime(missed), fmtTime(last))); err != nil {
					return err
				}
			} else if _, err := d.add(events.Event{Type: events.RunSkipped, Worker: w.Name, Actor: events.ActorSchedule,
				Cause: fmt.Sprintf("%d run(s) due from %s to %s were missed while no daemon ran: skipped (catch_up = %s)",
					n, fmtTime(missed), fmtTime(last), catchUp(sp)), Details: events.Details{Planned: last}}); err != nil {
				return err
			}
		}
	}
	d.planNext(w, sp, from)
	return nil
}

func catchUp(sp *Spec) string {
	if sp.Schedule.CatchUp == "" {
		return "skip"
	}
	return sp.Schedule.CatchUp
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// run starts a scheduled run due at planned.
func (d *decision) run(name string, planned time.Time, cause string) (*events.Event, error) {
	return d.startEvent(events.Event{Type: events.StartRequested, Worker: name, Actor: events.ActorSchedule, Cause: cause,
		Details: events.Details{Planned: planned}}, 0)
}

// due: a scheduled run's timer fired.
func (d *decision) due(in TimerFired) error {
	w := d.w.Worker(in.Worker)
	sp := d.st.spec(w)
	if sp == nil || sp.Digest != in.Digest || sp.Schedule == nil || d.w.Closing || !in.Planned.After(w.LastPlanned) {
		// The settings that planned it are gone, or the run was already
		// started or skipped (a timer armed by an earlier load).
		return nil
	}
	if w.Live() || w.Waiting == "start" {
		what := fmt.Sprintf("the run due at %s", fmtTime(w.LastPlanned))
		if w.Live() {
			what = fmt.Sprintf("incarnation %d (since %s)", w.Incarnation, fmtTime(w.Since))
		}
		switch sp.Schedule.Overlap {
		case "replace":
			if _, err := d.record(events.Event{Type: events.RestartRequested, Worker: in.Worker, Actor: events.ActorSchedule,
				Cause:   fmt.Sprintf("run due at %s replaces %s (overlap = replace)", fmtTime(in.Planned), what),
				Details: events.Details{Planned: in.Planned}}); err != nil {
				return err
			}
		case "allow":
			if w.Live() && w.Waiting == "" {
				if _, err := d.add(events.Event{Type: events.Waiting, Worker: in.Worker, Actor: events.ActorSchedule,
					Cause:   fmt.Sprintf("run due at %s waits for %s to end (overlap = allow)", fmtTime(in.Planned), what),
					Details: events.Details{Policy: "run", Planned: in.Planned}}); err != nil {
					return err
				}
			}
		default:
			if _, err := d.add(events.Event{Type: events.RunSkipped, Worker: in.Worker, Actor: events.ActorSchedule,
				Cause:   fmt.Sprintf("run due at %s skipped: %s is still going (overlap = forbid)", fmtTime(in.Planned), what),
				Details: events.Details{Planned: in.Planned}}); err != nil {
				return err
			}
		}
	} else if _, err := d.run(in.Worker, in.Planned, fmt.Sprintf("scheduled run due at %s", fmtTime(in.Planned))); err != nil {
		return err
	}
	d.planNext(d.w.Worker(in.Worker), sp, in.Planned)
	return nil
}
