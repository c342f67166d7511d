package daemon

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// daemonGCPercent is the garbage collector's target the daemon runs with
// unless GOGC is set in its environment.
//
// The daemon's heap is mostly long-lived state, about 4.7 KiB per idle
// worker (its state twice, its spec, its process and cgroup; the
// configuration is kept as its text, Daemon.cfg), and once the workers
// run it allocates little. At the runtime's default of 100 the
// heap it keeps mapped settles at about twice what is live; at 50, 1.5
// times. Measured with 3,000 idle workers: 50 MB of anonymous memory at
// 100, 40 MB at 50. A collection then runs after half as much allocation,
// which a restart storm pays for in CPU: the benchmarks' restart figures
// are taken with this setting.
const daemonGCPercent = 50

// tuneGC sets the daemon's collector target, leaving an operator's GOGC
// alone.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(daemonGCPercent)
}

// Memory the heap took in a burst (spawning thousands of workers,
// answering a storm of status calls) stays mapped once the burst is over:
// its garbage until a collection runs, which in an idle daemon is a long
// time, and the free memory the runtime hands back to the system only
// slowly. With 10,000 workers the start-up left 147 MB of anonymous memory
// around a heap of 46 MB live. trimLoop looks every trimEvery and, once a
// burst is over (the heap has stopped growing since the last look) and
// the heap has grown to more than twice, and trimFloor more than, what it
// was after the last trim, collects and gives the free memory back. In
// steady state at GOGC=50 the heap stays within about 1.5 times its live
// size, so only a burst ends in a trim; trimAfter bounds how often even a
// daemon hit by burst after burst pays for one.
const (
	trimEvery = 2 * time.Second
	trimAfter = 10 * time.Second
	trimFloor = 32 << 20
)

// heapSamples are the runtime/metrics trimLoop reads: what the heap holds
// mapped and not handed back.
var heapSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/free:bytes"},
	{Name: "/memory/classes/heap/objects:bytes"}, // live, and dead not yet swept
	{Name: "/memory/classes/heap/unused:bytes"},  // in spans, unused
}

// shouldTrim says whether a heap of now bytes, prev at the last look and
// base after the last trim, is worth a forced collection and a return to
// the system; last is when that was last done.
func shouldTrim(prev, now, base uint64, last, at time.Time) bool {
	return now <= prev && now > 2*base && now-base > trimFloor &&
		(last.IsZero() || at.Sub(last) >= trimAfter)
}

func mappedHeap() uint64 {
	metrics.Read(heapSamples)
	var n uint64
	for _, s := range heapSamples {
		n += s.Value.Uint64()
	}
	return n
}

// trimmer is trimLoop's state.
type trimmer struct {
	prev, base uint64    // the heap at the last look, and after the last trim
	last       time.Time // the last trim
}

// look looks at the heap and trims it when shouldTrim says so; it reports
// whether it did.
func (t *trimmer) look(at time.Time) bool {
	now := mappedHeap()
	trim := shouldTrim(t.prev, now, t.base, t.last, at)
	if trim {
		debug.FreeOSMemory()
		now = mappedHeap()
		t.base, t.last = now, at
	}
	t.prev = now
	return trim
}

// trimLoop runs until ctx ends.
func trimLoop(ctx context.Context) {
	tk := time.NewTicker(trimEvery)
	defer tk.Stop()
	t := trimmer{prev: mappedHeap()}
	for {
		select {
		case <-ctx.Done():
			return
		case at := <-tk.C:
			t.look(at)
		}
	}
}
