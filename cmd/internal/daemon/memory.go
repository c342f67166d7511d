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
// answering a storm of status calls) stays mapped once it is free: the
// runtime hands it back to the system slowly, and not at all while no
// collection runs, which in an idle daemon is a long time. With 10,000
// workers the start-up left 230 MB mapped around a live heap of 47 MB.
// trimLoop looks every trimEvery and gives free memory back at once when
// there is at least as much of it as there is live heap, and more than
// trimFloor: in steady state a collection at GOGC=50 leaves free about
// half of what is live, so only a burst triggers it, at most once per
// trimAfter.
const (
	trimEvery = 5 * time.Second
	trimAfter = time.Minute
	trimFloor = 32 << 20
)

// heapSamples are the runtime/metrics trimLoop reads.
var heapSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/free:bytes"},    // mapped, free, not handed back
	{Name: "/memory/classes/heap/objects:bytes"}, // live and not yet swept
}

// shouldTrim says whether free bytes around live ones are worth a forced
// collection and a return to the system, last being when that was done.
func shouldTrim(free, live uint64, last, now time.Time) bool {
	return free > trimFloor && free >= live && (last.IsZero() || now.Sub(last) >= trimAfter)
}

// trimOnce reads the heap and trims it when shouldTrim says so; it
// returns when it did, or last.
func trimOnce(last, now time.Time) time.Time {
	metrics.Read(heapSamples)
	free, live := heapSamples[0].Value.Uint64(), heapSamples[1].Value.Uint64()
	if !shouldTrim(free, live, last, now) {
		return last
	}
	debug.FreeOSMemory()
	return now
}

// trimLoop runs until ctx ends.
func trimLoop(ctx context.Context) {
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			last = trimOnce(last, now)
		}
	}
}
