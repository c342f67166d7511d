package policy

import (
	"math"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func genDuration(t *rapid.T, label string) time.Duration {
	return time.Duration(rapid.OneOf(
		rapid.Int64Range(-int64(time.Hour), int64(time.Hour)),
		rapid.Int64(),
		rapid.SampledFrom([]int64{0, 1, -1, math.MaxInt64, math.MinInt64}),
	).Draw(t, label))
}

func genJitter(t *rapid.T) float64 {
	return rapid.OneOf(
		rapid.Float64Range(0, math.Nextafter(1, 0)),
		rapid.SampledFrom([]float64{0, 1, -1, 2, math.NaN(), math.Inf(1), math.Inf(-1)}),
	).Draw(t, "jitter")
}

func genSpec(t *rapid.T) Spec {
	return Spec{
		Restart:         rapid.SampledFrom([]Restart{Always, OnFailure, Never, "", "x"}).Draw(t, "restart"),
		BackoffInitial:  genDuration(t, "initial"),
		BackoffMax:      genDuration(t, "max"),
		BreakerMax:      rapid.IntRange(-2, 10).Draw(t, "breakerMax"),
		BreakerWindow:   genDuration(t, "window"),
		BreakerCooldown: genDuration(t, "cooldown"),
		StableAfter:     genDuration(t, "stable"),
	}
}

func genExit(t *rapid.T) Exit {
	return Exit{
		Code:        rapid.IntRange(-2, 3).Draw(t, "code"),
		Signal:      rapid.IntRange(-1, 16).Draw(t, "signal"),
		Requested:   rapid.Bool().Draw(t, "requested"),
		FailedStart: rapid.Bool().Draw(t, "failedStart"),
		Lost:        rapid.Bool().Draw(t, "lost"),
		Ran:         genDuration(t, "ran"),
	}
}

func genHistory(t *rapid.T, now time.Time) History {
	offs := rapid.SliceOfN(rapid.Int64Range(-int64(time.Minute), int64(3*time.Hour)), 0, 20).Draw(t, "restarts")
	h := History{Streak: rapid.OneOf(rapid.IntRange(-3, 100), rapid.SampledFrom([]int{math.MaxInt, math.MinInt})).Draw(t, "streak")}
	for _, o := range offs {
		h.Restarts = append(h.Restarts, now.Add(-time.Duration(o)))
	}
	return h
}

func TestPropDecide(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		now := t0.Add(genDuration(t, "now"))
		spec, h, exit, j := genSpec(t), genHistory(t, now), genExit(t), genJitter(t)
		d := Decide(spec, h, exit, now, j)

		if d.Verdict < NoRestart || d.Verdict > OpenBreaker {
			t.Fatalf("invalid verdict %d", d.Verdict)
		}
		if d.Verdict == RestartAfter && (exit.Requested || spec.Restart == Never) {
			t.Fatalf("restart for requested=%v restart=%q: %s", exit.Requested, spec.Restart, d.Reason)
		}
		if d.Verdict == RestartAfter && spec.Restart == OnFailure && !exit.Failure() {
			t.Fatalf("on-failure restarted a clean exit: %s", d.Reason)
		}
		if d.Delay < 0 || d.Delay > max(spec.BackoffMax, 0) {
			t.Fatalf("delay %s outside [0, %s]", d.Delay, spec.BackoffMax)
		}
		if d.Verdict != RestartAfter && d.Delay != 0 {
			t.Fatalf("delay %s with verdict %v", d.Delay, d.Verdict)
		}
		if d.Streak < 0 {
			t.Fatalf("negative streak %d", d.Streak)
		}
		if d.Verdict == OpenBreaker && !BreakerTrips(h.Restarts, now, spec.BreakerMax, spec.BreakerWindow) {
			t.Fatalf("breaker opened without tripping: %s", d.Reason)
		}
		if d.Reason == "" {
			t.Fatal("empty reason")
		}
		// Replay must reproduce the decision exactly.
		if again := Decide(spec, h, exit, now, j); !reflect.DeepEqual(d, again) {
			t.Fatalf("non-deterministic: %+v then %+v", d, again)
		}
	})
}

func TestPropStreak(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		now := t0
		spec, h, exit := genSpec(t), genHistory(t, now), genExit(t)
		d := Decide(spec, h, exit, now, 0.5)
		prev := max(h.Streak, 0)
		if exit.Ran >= spec.StableThreshold() {
			prev = 0
		}
		want := prev
		if exit.Failure() && !exit.Requested && prev < math.MaxInt {
			want++
		}
		if d.Streak != want {
			t.Fatalf("streak %d, want %d (in %d, exit %+v)", d.Streak, want, h.Streak, exit)
		}
	})
}

func TestPropBackoff(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		initial, mx := genDuration(t, "initial"), genDuration(t, "max")
		a := rapid.OneOf(rapid.IntRange(-5, 80), rapid.SampledFrom([]int{1e9, math.MaxInt, math.MinInt})).Draw(t, "attempt")
		j := genJitter(t)
		d := Backoff(initial, mx, a, j)
		if d < 0 || d > max(mx, 0) {
			t.Fatalf("Backoff = %s outside [0, %s]", d, mx)
		}
		// Before jitter (jitter 1 yields the base) the delay never shrinks as attempts grow.
		if a < math.MaxInt {
			lo, hi := Backoff(initial, mx, a, 1), Backoff(initial, mx, a+1, 1)
			if hi < lo {
				t.Fatalf("not monotone: attempt %d -> %s, %d -> %s", a, lo, a+1, hi)
			}
		}
		// Equal jitter keeps at least half the base delay.
		if base := Backoff(initial, mx, a, 1); d < base/2 || d > base {
			t.Fatalf("jittered %s outside [%s, %s]", d, base/2, base)
		}
	})
}

func TestPropTrimMatchesBreaker(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		now := t0
		h := genHistory(t, now)
		window := genDuration(t, "window")
		mx := rapid.IntRange(1, 25).Draw(t, "max")
		kept := Trim(h.Restarts, now, window)
		if got, want := BreakerTrips(h.Restarts, now, mx, window), len(kept) >= mx; got != want {
			t.Fatalf("BreakerTrips = %v but %d of %d restarts remain after Trim (max %d)", got, len(kept), len(h.Restarts), mx)
		}
		if !reflect.DeepEqual(Trim(kept, now, window), kept) {
			t.Fatal("Trim is not idempotent")
		}
		if BreakerTrips(h.Restarts, now, mx, window) != BreakerTrips(kept, now, mx, window) {
			t.Fatal("trimming changed the breaker's answer")
		}
	})
}
