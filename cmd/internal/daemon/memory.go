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
// workers the start-up left 170 MB of anonymous memory around a heap of
// 46 MB live. trimLoop looks every trimEvery and, once the burst is over
// (the heap has stopped growing since the last look), collects and gives
// free memory back when the heap holds more than twice what the last
// collection found live, and more than trimFloor besides. In steady state
// at GOGC=50 it holds at most about 1.5 times, so only a burst ends in a
// trim; trimAfter bounds how often even a daemon hit by burst after burst
// pays for one.
const (
	trimEvery = 2 * time.Second
	trimAfter = 10 * time.Second
	trimFloor = 32 << 20
)

// heapSamples are the runtime/metrics trimLoop reads.
var heapSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/free:bytes"},    // mapped, free, not handed back
	{Name: "/memory/classes/heap/objects:bytes"}, // live, and dead not yet swept
	{Name: "/memory/classes/heap/unused:bytes"},  // in spans, unused
	{Name: "/gc/heap/live:bytes"},                // live as the last collection marked it
}

// heapLook is what one look found: the heap's mapped size (free, objects
// and unused, not handed back) and what the last collection found live.
type heapLook struct {
	mapped, live uint64
}

// shouldTrim says whether the heap as now found, after prev, is worth a
// forced collection and a return to the system; last is when that was
// last done.
func shouldTrim(prev, now heapLook, last, at time.Time) bool {
	return now.mapped <= prev.mapped && now.mapped >= 2*now.live && now.mapped-now.live > trimFloor &&
		(last.IsZero() || at.Sub(last) >= trimAfter)
}

func lookAtHeap() heapLook {
	metrics.Read(heapSamples)
	var mapped uint64
	for _, s := range heapSamples[:3] {
		mapped += s.Value.Uint64()
	}
	return heapLook{mapped: mapped, live: heapSamples[3].Value.Uint64()}
}

// trimOnce looks at the heap and trims it when shouldTrim says so; it
// returns what it found and when it last trimmed.
func trimOnce(prev heapLook, last, at time.Time) (heapLook, time.Time) {
	now := lookAtHeap()
	if !shouldTrim(prev, now, last, at) {
		return now, last
	}
	debug.FreeOSMemory()
	return lookAtHeap(), at
}

// trimLoop runs until ctx ends.
func trimLoop(ctx context.Context) {
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	var last time.Time
	prev := lookAtHeap()
	for {
		select {
		case <-ctx.Done():
			return
		case at := <-t.C:
			prev, last = trimOnce(prev, last, at)
		}
	}
}
