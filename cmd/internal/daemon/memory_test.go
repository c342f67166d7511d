package daemon

import (
	"os"
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
	for _, c := range []struct {
		what             string
		prev, heap, base uint64
		last             time.Time
		want             bool
	}{
		{what: "the start-up is over", prev: 141 * M, heap: 141 * M, want: true},
		{what: "the start-up goes on", prev: 120 * M, heap: 141 * M},
		{what: "a burst after a trim is over", prev: 141 * M, heap: 140 * M, base: 50 * M, last: now.Add(-time.Minute), want: true},
		{what: "steady state at GOGC=50", prev: 80 * M, heap: 75 * M, base: 50 * M, last: now.Add(-time.Minute)},
		{what: "below the floor", prev: 24 * M, heap: 24 * M, base: 4 * M},
		{what: "trimmed just now", prev: 141 * M, heap: 141 * M, base: 50 * M, last: now.Add(-time.Second)},
	} {
		if got := shouldTrim(c.prev, c.heap, c.base, c.last, now); got != c.want {
			t.Errorf("%s: shouldTrim = %v, want %v", c.what, got, c.want)
		}
	}
}

// A burst's garbage is collected and handed back to the system by one
// look once the burst is over, not kept mapped.
func TestTrimHandsBackABurst(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	debug.FreeOSMemory()
	tr := trimmer{base: mappedHeap()}
	var burst [][]byte
	for range 256 {
		burst = append(burst, make([]byte, 512<<10)) // 128 MiB
	}
	burst[0][0] = 1
	burst = nil
	before := mappedHeap()
	tr.prev = before // the last look found it as large: the burst is over
	if !tr.look(time.Now()) {
		t.Fatalf("no trim with %d MiB mapped, %d MiB after the last trim", before>>20, tr.base>>20)
	}
	if tr.base > before/2 {
		t.Fatalf("%d MiB mapped after a trim, %d MiB before", tr.base>>20, before>>20)
	}
	if tr.look(time.Now().Add(time.Minute)) {
		t.Fatal("trimmed again with no burst since")
	}
}
