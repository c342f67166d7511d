package daemon

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
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
		what                  string
		prev, allocated, base uint64
		last                  time.Time
		want                  bool
	}{
		{what: "quiet after the start-up", prev: 900 * M, allocated: 900 * M, want: true},
		{what: "still starting", prev: 800 * M, allocated: 900 * M},
		{what: "quiet after a burst since a trim", prev: 900 * M, allocated: 900 * M, base: 600 * M, last: now.Add(-time.Minute), want: true},
		{what: "quiet, little allocated since the trim", prev: 620 * M, allocated: 620 * M, base: 600 * M, last: now.Add(-time.Minute)},
		{what: "trimmed just now", prev: 900 * M, allocated: 900 * M, base: 600 * M, last: now.Add(-time.Second)},
	} {
		if got := shouldTrim(c.prev, c.allocated, c.base, c.last, now); got != c.want {
			t.Errorf("%s: shouldTrim = %v, want %v", c.what, got, c.want)
		}
	}
}

// heapMapped is what the heap holds mapped and not handed back.
func heapMapped() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64() + s[2].Value.Uint64()
}

// A burst's garbage is collected and handed back to the system by one
// look once the burst is over, not kept mapped; and only once.
func TestTrimHandsBackABurst(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	debug.FreeOSMemory()
	tr := trimmer{base: allocated()}
	var burst [][]byte
	for range 256 {
		burst = append(burst, make([]byte, 512<<10)) // 128 MiB
	}
	burst[0][0] = 1
	burst = nil
	tr.prev = allocated() // the burst is over
	before := heapMapped()
	if !tr.look(time.Now()) {
		t.Fatal("no trim after a burst")
	}
	if after := heapMapped(); after > before/2 {
		t.Fatalf("%d MiB mapped after a trim, %d MiB before", after>>20, before>>20)
	}
	if tr.look(time.Now().Add(time.Minute)) {
		t.Fatal("trimmed again with no burst since")
	}
}

// Kept memory let go of by release (status buffers unused for a while) is
// handed back by the same look, once quiet, however little was allocated
// since the last trim; a release of little, or none, is no trim; a busy
// daemon keeps it until it is quiet.
func TestLookTrimsWhatIsReleased(t *testing.T) {
	freed, asked := 0, 0
	tr := trimmer{base: allocated(), last: time.Now(), release: func(time.Time) int { asked++; return freed }}
	tr.prev = allocated()
	if tr.look(time.Now()) {
		t.Fatal("a trim with nothing released and nothing allocated")
	}
	freed = releaseFloor - 1
	tr.prev = allocated()
	if tr.look(time.Now()) {
		t.Fatal("a trim for less than releaseFloor released")
	}
	freed = 8 << 20
	tr.prev = allocated()
	if !tr.look(time.Now()) {
		t.Fatal("8 MiB released, and no trim")
	}
	tr.prev = allocated() - 2*trimQuiet // busy
	before := asked
	if tr.look(time.Now()) {
		t.Fatal("a trim while the daemon is busy")
	}
	if asked != before {
		t.Fatal("a busy daemon let go of what it keeps: it would wait for a collection, not be handed back")
	}
}
