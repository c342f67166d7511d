// Package explain turns a worker's state and its recent events into the
// plain-words causal chain `tend why` prints. It is pure: it reads only its
// arguments, so the same answer comes from the live daemon and from a copy
// of its log.
package explain

import (
	"fmt"
	"strings"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// Step is one link of the chain, with the event it rests on.
type Step struct {
	Seq  events.Seq `json:"seq"`
	Text string     `json:"text"`
}

// Answer is the explanation of a worker's current state.
type Answer struct {
	Worker  string `json:"worker"`
	State   string `json:"state"`
	Summary string `json:"summary"`
	Chain   []Step `json:"chain"`
	// Output is the last lines of the output of the hook whose failure
	// ended (or stopped) the last incarnation, control characters
	// escaped; OutputOf says which hook.
	Output   []string `json:"output,omitempty"`
	OutputOf string   `json:"output_of,omitempty"`
}

// Why explains w's state from its events (oldest first; the worker's last
// few hundred are plenty).
func Why(w *fsm.Worker, hist []events.Event) Answer {
	a := Answer{Worker: w.Name, State: w.State.String()}
	at := func(t time.Time) string { return t.Local().Format("15:04:05") }
	find := func(pred func(e *events.Event) bool) *events.Event {
		for i := len(hist) - 1; i >= 0; i-- {
			if pred(&hist[i]) {
				return &hist[i]
			}
		}
		return nil
	}
	add := func(e *events.Event, format string, args ...any) {
		var seq events.Seq
		if e != nil {
			seq = e.Seq
		}
		a.Chain = append(a.Chain, Step{Seq: seq, Text: fmt.Sprintf(format, args...)})
	}

	head := fmt.Sprintf("%s since %s", w.State, at(w.Since))
	cause := w.Cause
	if w.Actor != "" {
		cause += " (by " + w.Actor + ")"
	}
	var parts []string
	switch {
	case w.Waiting != "":
		// A start (or stop, or scheduled run) that waits: what for, since
		// when, who asked.
		what := map[string]string{"start": "its start", "stop": "its stop", "run": "its next scheduled run"}[w.Waiting]
		parts = append(parts, fmt.Sprintf("%s waits since %s (asked by %s): %s", what, at(w.WaitSince), w.WaitActor, w.WaitCause))
		if e := find(func(e *events.Event) bool { return e.Seq == w.WaitSeq }); e != nil {
			add(e, "%s: %s (by %s)", at(e.Time), e.Cause, e.Actor)
		}
	case w.Policy.BreakerOpen:
		b := find(func(e *events.Event) bool { return e.Type == events.BreakerOpened && !e.Stale })
		why := "the circuit breaker opened"
		if b != nil {
			why += " (" + b.Cause + ")"
			add(b, "%s: circuit breaker opened: %s", at(b.Time), b.Cause)
		}
		parts = append(parts, "because "+why)
	case w.Policy.Pending:
		parts = append(parts, fmt.Sprintf("waiting to restart at %s", at(w.Policy.Due)))
		if r := find(func(e *events.Event) bool { return e.Type == events.RestartScheduled && !e.Stale }); r != nil {
			add(r, "%s: restart scheduled in %s: %s", at(r.Time), r.Delay.Round(time.Millisecond), r.Cause)
		}
	default:
		parts = append(parts, "because "+cause)
		if e := find(func(e *events.Event) bool { return e.Seq == w.CauseSeq }); e != nil {
			add(e, "%s: %s → %s: %s (by %s)", at(e.Time), e.From, e.To, e.Cause, e.Actor)
		}
	}

	if x := w.LastExit; x != nil && (!w.Live() || w.Restarts > 0) {
		exit := find(func(e *events.Event) bool {
			return (e.Type == events.Exited || e.Type == events.Lost || e.Type == events.SpawnFailed ||
				e.Type == events.HookExited && e.To != 0) && !e.Stale && e.Incarnation == x.Incarnation
		})
		what := "the last exit was " + strings.TrimPrefix(x.Cause, "process ")
		if trigger := triggerOf(hist, x.Incarnation, x.Signal); trigger != nil {
			what += " after " + describe(trigger)
			add(trigger, "%s: %s (by %s)", at(trigger.Time), trigger.Cause, trigger.Actor)
			if trigger.Type == events.HookExited {
				a.hookOutput(trigger)
			}
		}
		if exit != nil && exit.Type == events.HookExited {
			a.hookOutput(exit)
		}
		if exit != nil {
			add(exit, "%s: incarnation %d ended: %s", at(exit.Time), exit.Incarnation, exit.Cause)
		}
		parts = append(parts, what)
	}
	if w.Restarts > 0 {
		parts = append(parts, fmt.Sprintf("%d restart(s) so far", w.Restarts))
	}
	if w.Status != "" {
		parts = append(parts, "it says: "+w.Status)
	}
	if w.Health != "" {
		if h := find(func(e *events.Event) bool { return e.Type == events.HealthFailed && !e.Stale }); h != nil {
			parts = append(parts, "health check failing: "+h.Cause)
		}
	}
	a.Summary = head + " " + strings.Join(parts, "; ")
	// Oldest first reads as a story.
	for i, j := 0, len(a.Chain)-1; i < j; i, j = i+1, j-1 {
		a.Chain[i], a.Chain[j] = a.Chain[j], a.Chain[i]
	}
	sortBySeq(a.Chain)
	return a
}

// hookOutput keeps the output of the hook whose end e records.
func (a *Answer) hookOutput(e *events.Event) {
	if e.Text == "" || a.Output != nil {
		return
	}
	a.Output = strings.Split(e.Text, "\n")
	a.OutputOf = fmt.Sprintf("%s hook of incarnation %d", e.Policy, e.Incarnation)
}

// triggerOf finds what ended an incarnation from outside: a kill, a stop or
// restart request, a limit or health verdict, a failed post_start, or an
// operator's signal of the kind that ended it (sig).
func triggerOf(hist []events.Event, inc events.Incarnation, sig int) *events.Event {
	for i := len(hist) - 1; i >= 0; i-- {
		e := &hist[i]
		if e.Stale || e.Incarnation != inc {
			continue
		}
		switch e.Type {
		case events.SignalRequested:
			if sig != 0 && e.Signal == sig {
				return e
			}
		case events.HookExited:
			if e.To == events.Stopping {
				return e
			}
		case events.LimitViolated:
			// The kernel enforced a limit itself: an OOM kill in the
			// incarnation's cgroup, which no request of tend's follows.
			if e.Actor == events.ActorKernel {
				return e
			}
		case events.KillSent, events.StopRequested, events.RestartRequested:
			// The verdict behind a policy's request says more than the request.
			if e.Actor == events.ActorLimits || e.Actor == events.ActorHealth {
				for j := i - 1; j >= 0; j-- {
					p := &hist[j]
					if p.Incarnation == inc && !p.Stale && (p.Type == events.LimitViolated || p.Type == events.HealthFailed) {
						if e.Type == events.KillSent {
							return e
						}
						return p
					}
				}
			}
			return e
		}
	}
	return nil
}

func describe(e *events.Event) string {
	switch e.Type {
	case events.KillSent:
		if e.Actor == events.ActorLimits {
			return "SIGKILL sent by the limit policy: " + strings.TrimPrefix(e.Cause, "SIGKILL to the process group: ")
		}
		return "SIGKILL sent by " + e.Actor + ": " + e.Cause
	case events.LimitViolated:
		if e.Actor == events.ActorKernel {
			return "an OOM kill by the kernel: " + e.Cause
		}
		return "a resource limit violation: " + e.Cause
	case events.HealthFailed:
		return "a failed health check: " + e.Cause
	case events.RestartRequested:
		if strings.HasPrefix(e.Cause, "configuration changed") {
			// Which settings changed is the point (their names only).
			return "a reload by " + e.Actor + ": " + strings.TrimSuffix(e.Cause, ": restarting")
		}
		return e.Type.String() + " by " + e.Actor
	case events.SignalRequested:
		return "SIG" + events.SignalName(e.Signal) + " sent by " + e.Actor
	case events.HookExited:
		return "its " + e.Cause
	default:
		return e.Type.String() + " by " + e.Actor
	}
}

func sortBySeq(s []Step) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Seq < s[j-1].Seq; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Lines is the answer as `tend why` prints it, one line each: the summary,
// then the chain. Every view of an answer (the CLI, `tend top`) shows
// these words.
func (a *Answer) Lines() []string {
	out := make([]string, 0, 1+len(a.Chain))
	out = append(out, fmt.Sprintf("%s is %s", a.Worker, a.Summary))
	for _, s := range a.Chain {
		out = append(out, fmt.Sprintf("  seq %-8d %s", s.Seq, s.Text))
	}
	if len(a.Output) > 0 {
		out = append(out, fmt.Sprintf("  last output of its %s:", a.OutputOf))
		for _, l := range a.Output {
			out = append(out, "    | "+l)
		}
	}
	return out
}
