package daemon

import (
	"os"
	"runtime/debug"
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
