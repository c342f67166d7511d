package daemon

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestTuneGCLeavesAnOperatorsGOGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)

	t.Setenv("GOGC", "200")
	tuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("with GOGC set, the daemon changed the collector's target to %d", got)
	}

	os.Unsetenv("GOGC") // t.Setenv restores it
	tuneGC()
	if got := debug.SetGCPercent(100); got != daemonGCPercent {
		t.Fatalf("without GOGC, the collector's target is %d, want %d", got, daemonGCPercent)
	}
}

func TestShouldTrim(t *testing.T) {
	now := time.Now()
	const M = 1 << 20
	burst := heapLook{mapped: 166 * M, live: 55 * M}
	growing := heapLook{mapped: 120 * M, live: 55 * M}
	for _, c := range []struct {
		what      string
		prev, now heapLook
		last      time.Time
		want      bool
	}{
		{what: "the burst is over", prev: burst, now: burst, want: true},
		{what: "the burst goes on", prev: growing, now: burst},
		{what: "steady state at GOGC=50", prev: heapLook{mapped: 80 * M}, now: heapLook{mapped: 75 * M, live: 47 * M}},
		{what: "trimmed: as much mapped as live", prev: burst, now: heapLook{mapped: 50 * M, live: 46 * M}},
		{what: "below the floor", prev: burst, now: heapLook{mapped: 24 * M, live: 4 * M}},
		{what: "trimmed just now", prev: burst, now: burst, last: now.Add(-time.Second)},
		{what: "trimmed long enough ago", prev: burst, now: burst, last: now.Add(-time.Minute), want: true},
	} {
		if got := shouldTrim(c.prev, c.now, c.last, now); got != c.want {
			t.Errorf("%s: shouldTrim = %v, want %v", c.what, got, c.want)
		}
	}
}

// A burst's garbage, once collected, is handed back to the system by one
// look, not kept mapped.
func TestTrimHandsBackABurst(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	debug.FreeOSMemory()
	var burst [][]byte
	for range 256 {
		burst = append(burst, make([]byte, 512<<10)) // 128 MiB
	}
	burst[0][0] = 1
	burst = nil
	runtime.GC()
	before := lookAtHeap()
	if before.mapped-before.live < trimFloor {
		t.Skipf("the runtime handed back the burst by itself (%d MiB mapped, %d MiB live)", before.mapped>>20, before.live>>20)
	}
	now := time.Now()
	// As after a look that found the heap larger: the burst is over.
	after, last := trimOnce(heapLook{mapped: ^uint64(0)}, time.Time{}, now)
	if !last.Equal(now) {
		t.Fatalf("no trim with %d MiB mapped around %d MiB live", before.mapped>>20, before.live>>20)
	}
	if after.mapped-after.live >= trimFloor {
		t.Fatalf("%d MiB mapped around %d MiB live after a trim", after.mapped>>20, after.live>>20)
	}
}
