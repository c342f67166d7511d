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
// around a heap of 46 MB live. trimLoop looks every trimEvery and, once
// the daemon has gone quiet (it allocated less than trimQuiet since the
// last look) after allocating more than trimFloor since the last trim,
// collects and gives the free memory back. It looks every second (a
// look is one read of the runtime's counters) with the same rate for
// quiet: looking every 2 s, a daemon that had just started 10,000 workers
// still held the burst 3 s after the last of them appeared, 153 MiB of
// PSS on the peer harness; looking every second, 77 MiB. A busy daemon is left to the
// collector; an idle one allocates little, and trims once per trimFloor
// allocated at most; trimAfter bounds how often even a daemon hit by
// burst after burst pays for one.
const (
	trimEvery = time.Second
	trimAfter = 10 * time.Second
	trimQuiet = 512 << 10
	trimFloor = 32 << 20
)

// allocSample is the heap's allocations since the start, in bytes.
var allocSample = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

// shouldTrim says whether a daemon that had allocated prev bytes at the
// last look, now bytes now, and base bytes at the last trim (at last) is
// worth a forced collection and a return to the system.
func shouldTrim(prev, now, base uint64, last, at time.Time) bool {
	return quietAfter(prev, now, base, trimFloor, last, at)
}

// quietAfter is the rule of both trims: quiet since the last look (prev),
// after more than floor allocated since the last trim (at last, with base
// allocated), and at most once per trimAfter.
func quietAfter(prev, now, base, floor uint64, last, at time.Time) bool {
	return now-prev < trimQuiet && now-base > floor && (last.IsZero() || at.Sub(last) >= trimAfter)
}

func allocated() uint64 {
	metrics.Read(allocSample)
	return allocSample[0].Value.Uint64()
}

// textFloor is how much a daemon allocates, from one trim of its text to
// the next, to be taken for having run more than its idle loop: an idle
// daemon keeps what it runs mapped.
const textFloor = 1 << 20

// shouldTrimText says whether the executable's pages are worth letting go:
// quiet, after some work since the last time (at lastText, with baseText
// allocated), at most once per trimAfter.
func shouldTrimText(prev, now, baseText uint64, lastText, at time.Time) bool {
	return quietAfter(prev, now, baseText, textFloor, lastText, at)
}

// trimmer is trimLoop's state.
type trimmer struct {
	prev, base uint64    // allocated at the last look, and at the last trim
	last       time.Time // the last trim
	// text is the executable's read-only mappings (textSet); baseText and
	// lastText are allocated, and the time, at their last trim.
	text     []textRange
	baseText uint64
	lastText time.Time
	// release, when set, lets go of memory kept for reuse that has not
	// been used for a while (the status answers' buffers), and returns how
	// many bytes; at least releaseFloor of them are handed back at once,
	// by a trim, once the daemon is quiet.
	release func(at time.Time) int
}

// releaseFloor is how much kept memory let go of is worth a trim of its
// own: a status answer's buffers at about 1,500 workers.
const releaseFloor = 1 << 20

// look looks at the heap and trims it when shouldTrim says so; it reports
// whether it did.
func (t *trimmer) look(at time.Time) bool {
	now := allocated()
	trim := shouldTrim(t.prev, now, t.base, t.last, at)
	// Only a quiet daemon lets go of them: one busy now may well be
	// answering status, and what it let go of would wait for a collection.
	released := t.release != nil && now-t.prev < trimQuiet && t.release(at) >= releaseFloor
	if trim || released {
		debug.FreeOSMemory()
		t.base, t.last = now, at
	}
	// The collection of a trim runs code enough to map much of the text
	// again: a trim for what was released, which follows little
	// allocation, is followed by the text's.
	if t.text != nil && (released || shouldTrimText(t.prev, now, t.baseText, t.lastText, at)) {
		trimText(t.text)
		t.baseText, t.lastText = now, at
	}
	t.prev = now
	return trim || released
}

// trimLoop runs until ctx ends; release is the trimmer's.
func trimLoop(ctx context.Context, release func(time.Time) int) {
	tk := time.NewTicker(trimEvery)
	defer tk.Stop()
	t := trimmer{prev: allocated(), text: textSet(), release: release}
	for {
		select {
		case <-ctx.Done():
			return
		case at := <-tk.C:
			t.look(at)
		}
	}
}
