package policy

import "time"

// inWindow reports whether t is inside the half-open window (now-window, now].
// Times after now also count: if the clock steps back, restarts recorded
// before the step must still hold the breaker rather than be forgotten. Sub
// saturates, so extreme times and windows cannot overflow.
func inWindow(t, now time.Time, window time.Duration) bool {
	return window > 0 && now.Sub(t) < window
}

func countWithin(restarts []time.Time, now time.Time, window time.Duration) int {
	n := 0
	for _, t := range restarts {
		if inWindow(t, now, window) {
			n++
		}
	}
	return n
}

// BreakerTrips reports whether one more restart at now would exceed max
// restarts within window, i.e. whether max restarts already lie inside
// (now-window, now]. A restart exactly window ago is outside. max <= 0 or
// window <= 0 means no breaker. Order of restarts does not matter.
func BreakerTrips(restarts []time.Time, now time.Time, max int, window time.Duration) bool {
	if max <= 0 {
		return false
	}
	return countWithin(restarts, now, window) >= max
}

// CooldownOver reports whether a breaker opened at openedAt may close at now.
// A non-positive cooldown never elapses: the breaker waits for an operator.
func CooldownOver(openedAt, now time.Time, cooldown time.Duration) bool {
	return cooldown > 0 && now.Sub(openedAt) >= cooldown
}

// Trim returns the restarts that BreakerTrips would still count at now, in
// their original order, in a new slice so the caller's history is never
// aliased. It returns nil when none remain.
func Trim(restarts []time.Time, now time.Time, window time.Duration) []time.Time {
	var kept []time.Time
	for _, t := range restarts {
		if inWindow(t, now, window) {
			kept = append(kept, t)
		}
	}
	return kept
}
