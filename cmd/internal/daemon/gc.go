package daemon

import (
	"runtime/debug"
	"sync"
)

// startupHeap bounds the heap while collection is held off at start-up.
const startupHeap = 256 << 20

// HoldGC holds off garbage collection, up to a heap of startupHeap, until
// the returned function is called; call it once the daemon is ready. A
// daemon's heap starts out small, so the collector's pacing runs a cycle
// every few megabytes: parsing a configuration of a thousand workers and
// recording their first events ran several, each delaying the first spawn.
// Start-up allocates in proportion to the configuration; the limit keeps a
// very large one from growing the heap without bound, and a lower limit set
// through GOMEMLIMIT is kept.
func HoldGC() (release func()) {
	limit := debug.SetMemoryLimit(-1)
	debug.SetMemoryLimit(min(limit, startupHeap))
	percent := debug.SetGCPercent(-1)
	var once sync.Once
	return func() {
		once.Do(func() {
			debug.SetGCPercent(percent)
			debug.SetMemoryLimit(limit)
		})
	}
}
