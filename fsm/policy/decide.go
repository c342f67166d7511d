package policy

import (
	"fmt"
	"math"
	"time"
)

// Exit is what ended an incarnation.
type Exit struct {
	Code        int           // exit code, -1 if signalled or unknown
	Signal      int           // 0 if none
	Requested   bool          // the supervisor asked it to end (operator stop, policy stop/kill, reload): NEVER restarted by the policy
	FailedStart bool          // died before the start timeout elapsed
	Lost        bool          // died while the daemon was down; status unknown (treated as a failure)
	Ran         time.Duration // how long it ran
}

// Failure reports whether the exit counts as a failure: non-zero code, any
// signal, failed start, or lost. Requested does not change the answer; it
// only stops the policy from acting on it.
func (e Exit) Failure() bool {
	return e.Code != 0 || e.Signal != 0 || e.FailedStart || e.Lost
}

// String describes the exit for postmortem reasons.
func (e Exit) String() string {
	switch {
	case e.Lost:
		return "lost while the daemon was down"
	case e.FailedStart && e.Signal != 0:
		return fmt.Sprintf("failed to start (killed by signal %d)", e.Signal)
	case e.FailedStart && e.Code != 0:
		return fmt.Sprintf("failed to start (exit status %d)", e.Code)
	case e.FailedStart:
		return "failed to start"
	case e.Signal != 0:
		return fmt.Sprintf("killed by signal %d", e.Signal)
	case e.Code == -1:
		return "exited with unknown status"
	case e.Code != 0:
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return "exited cleanly"
}

// History is what the policy needs to know about the past, derived by the
// caller from the log.
type History struct {
	Streak   int         // consecutive failed runs before this exit (resets after a stable run)
	Restarts []time.Time // times of previous automatic restarts, oldest first (caller may trim to the window)
}

// Verdict is the outcome of Decide.
type Verdict int

// Verdicts start at 1 so that a zero Decision is recognisably invalid.
const (
	NoRestart Verdict = iota + 1
	RestartAfter
	OpenBreaker
)

func (v Verdict) String() string {
	switch v {
	case NoRestart:
		return "no-restart"
	case RestartAfter:
		return "restart-after"
	case OpenBreaker:
		return "open-breaker"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Decision is what Decide concluded and why.
type Decision struct {
	Verdict Verdict
	Delay   time.Duration // for RestartAfter: the backoff drawn
	Streak  int           // the failure streak after this exit (for the caller to record)
	Reason  string        // a sentence for a postmortem
}

// Decide settles what follows exit. It is pure: jitter is a number in [0,1)
// drawn by the caller, and now is the caller's clock reading.
//
// Streak: a run of at least spec.StableThreshold() forgives the earlier
// streak; an unrequested failure then adds one (saturating). Anything else
// leaves the streak as it is, so a quick clean exit neither grows nor hides
// a crash loop.
//
// Delay: Backoff(BackoffInitial, BackoffMax, n, jitter), where n is the
// streak before this exit's own failure is added (after any stable reset).
// The first failure after a stable run therefore waits BackoffInitial.
//
// An unknown restart mode (including the zero value) never restarts: a
// broken config should leave a worker down rather than loop it.
func Decide(spec Spec, h History, exit Exit, now time.Time, jitter float64) Decision {
	streak := max(h.Streak, 0)
	if exit.Ran >= spec.StableThreshold() {
		streak = 0
	}
	if exit.Requested {
		return Decision{Verdict: NoRestart, Streak: streak, Reason: "explicit stop: no restart"}
	}
	attempt := streak
	failed := exit.Failure()
	if failed && streak < math.MaxInt {
		streak++
	}
	what := exit.String()

	var restart bool
	switch spec.Restart {
	case Always:
		restart = true
	case OnFailure:
		restart = failed
	case Never:
	default:
		return Decision{Verdict: NoRestart, Streak: streak,
			Reason: fmt.Sprintf("%s with unknown restart mode %q: no restart", what, spec.Restart)}
	}
	if !restart {
		reason := fmt.Sprintf("%s with restart=%s: no restart", what, spec.Restart)
		if !failed {
			reason = fmt.Sprintf("%s with restart=%s", what, spec.Restart)
		}
		return Decision{Verdict: NoRestart, Streak: streak, Reason: reason}
	}

	if spec.BreakerMax > 0 && BreakerTrips(h.Restarts, now, spec.BreakerMax, spec.BreakerWindow) {
		n := countWithin(h.Restarts, now, spec.BreakerWindow)
		return Decision{Verdict: OpenBreaker, Streak: streak,
			Reason: fmt.Sprintf("%s with restart=%s: %d restarts within %s (limit %d): circuit breaker opened",
				what, spec.Restart, n, spec.BreakerWindow, spec.BreakerMax)}
	}

	delay := Backoff(spec.BackoffInitial, spec.BackoffMax, attempt, jitter)
	return Decision{Verdict: RestartAfter, Delay: delay, Streak: streak,
		Reason: fmt.Sprintf("%s with restart=%s: restart in %s (attempt %d, backoff %s..%s)",
			what, spec.Restart, human(delay), satInc(attempt), spec.BackoffInitial, spec.BackoffMax)}
}

func satInc(n int) int {
	if n == math.MaxInt {
		return n
	}
	return n + 1
}

// human trims nanosecond noise from jittered delays so reasons stay readable.
func human(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Microsecond).String()
}
