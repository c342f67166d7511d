package daemon

import (
	"os"
	"runtime"
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
	for _, c := range []struct {
		free, live uint64
		last       time.Time
		want       bool
	}{
		{free: 180 << 20, live: 47 << 20, want: true},                                  // after a start-up burst
		{free: 23 << 20, live: 47 << 20, want: false},                                  // steady state at GOGC=50
		{free: 60 << 20, live: 100 << 20, want: false},                                 // less free than live
		{free: 20 << 20, live: 4 << 20, want: false},                                   // below the floor
		{free: 180 << 20, live: 47 << 20, last: now.Add(-10 * time.Second)},            // trimmed just now
		{free: 180 << 20, live: 47 << 20, last: now.Add(-2 * time.Minute), want: true}, // long enough ago
	} {
		if got := shouldTrim(c.free, c.live, c.last, now); got != c.want {
			t.Errorf("shouldTrim(free %d MiB, live %d MiB, %v ago) = %v, want %v",
				c.free>>20, c.live>>20, now.Sub(c.last), got, c.want)
		}
	}
}

// A burst's garbage, once collected, is handed back to the system by one
// check, not kept mapped.
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
	free := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	if f := free(); f < trimFloor {
		t.Skipf("the runtime handed back the burst by itself (%d MiB free)", f>>20)
	}
	now := time.Now()
	if last := trimOnce(time.Time{}, now); !last.Equal(now) {
		t.Fatalf("no trim with %d MiB free", free()>>20)
	}
	if f := free(); f >= trimFloor {
		t.Fatalf("%d MiB still free and mapped after a trim", f>>20)
	}
}
