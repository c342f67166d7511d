package policy

import (
	"math"
	"time"
)

// Backoff returns the delay before restart number attempt (0-based).
//
// The base is initial * 2^attempt, capped at max. "Equal jitter" then spreads
// it over [base/2, base]: half the delay is guaranteed, so a crash loop is
// always slowed down, while the other half decorrelates workers that fail
// together. jitter is expected in [0,1); values outside it (including NaN)
// are clamped to [0,1] rather than trusted, because the result must stay
// within [0, max] whatever the caller passes.
//
// Non-positive initial or max give 0; a negative attempt counts as 0. The
// shift is bounded so that huge attempt counts saturate at max instead of
// overflowing.
func Backoff(initial, max time.Duration, attempt int, jitter float64) time.Duration {
	if initial <= 0 || max <= 0 {
		return 0
	}
	attempt = min(maxInt(attempt, 0), 63)
	base := max
	// initial <= max>>attempt implies initial<<attempt <= max, so the shift
	// cannot overflow on this branch; from attempt 63 on, max>>attempt is 0
	// and the cap always wins.
	if initial <= max>>uint(attempt) {
		base = initial << uint(attempt)
	}
	return spread(base, jitter)
}

func spread(d time.Duration, jitter float64) time.Duration {
	switch {
	case math.IsNaN(jitter) || jitter <= 0:
		jitter = 0
	case jitter > 1:
		jitter = 1
	}
	half := d / 2
	rest := d - half
	// float64 rounding can push the product a hair above rest for delays
	// beyond 2^53ns; clamp so the result never exceeds d.
	extra := time.Duration(float64(rest) * jitter)
	extra = min(max(extra, 0), rest)
	return half + extra
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
