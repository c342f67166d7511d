package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// liveHeap is the daemon's live heap: HeapAlloc right after a collection,
// as its heap profile reports it.
func liveHeap(t *testing.T, e *env) uint64 {
	t.Helper()
	out, err := exec.Command("curl", "-sf", "--unix-socket", e.socket(), "http://tend/debug/pprof/heap?debug=1&gc=1").Output()
	if err != nil {
		t.Fatalf("heap profile: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no HeapAlloc in the heap profile")
	return 0
}

// idleHeap starts a daemon with n idle sleep workers, waits until all run,
// and returns its live heap.
func idleHeap(t *testing.T, n int) uint64 {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[worker.w%d]\ncommand = [\"sleep\", \"%d\"]\n\n", i, 100000+i)
	}
	e := newEnv(t, b.String())
	e.startDaemon()
	deadline := time.Now().Add(60 * time.Second)
	for {
		up := 0
		for _, w := range e.status() {
			if running(w) {
				up++
			}
		}
		if up == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d workers running after 60 s", up, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The least of three readings: what a reading itself allocates, or a
	// request still being answered, only adds.
	least := liveHeap(t, e)
	for range 2 {
		least = min(least, liveHeap(t, e))
	}
	e.stopDaemon()
	killMarked(e.db())
	return least
}

// What the daemon keeps for an idle worker is bounded: its state, spec,
// configuration, process record and cgroup, measured as the live heap of a
// daemon with many idle workers less that of one with few, per worker.
// The configuration as parsed, with its line index, and the files a
// spawn opened are not kept past their use; at 6 KiB a worker a daemon
// kept 60 MB of live heap at 10,000 workers, and about 1.5 times that
// mapped at its collector's target.
func TestIdleWorkerHeap(t *testing.T) {
	needRoot(t)
	const few, many = 20, 1000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < 4*many {
		t.Skipf("open-file limit %d is too low for %d workers", lim.Cur, many)
	}
	base := idleHeap(t, few)
	full := idleHeap(t, many)
	per := (int64(full) - int64(base)) / (many - few)
	t.Logf("live heap: %d B with %d workers, %d B with %d: %d B a worker", base, few, full, many, per)
	if per > maxHeapPerWorker {
		t.Errorf("live heap per idle worker is %d B, want at most %d B", per, maxHeapPerWorker)
	}
}

// maxHeapPerWorker: about 4.65 KiB is measured (the worker's state twice
// is 1.2 KiB of it), against 6.1 KiB while the daemon kept every worker's
// decoded configuration and line index; the room above is for what a
// reading itself varies by.
const maxHeapPerWorker = 5300
