package proc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// An orphan reparented to the daemon stays a zombie forever unless the
// reaper collects it (PID 1 of this container never would).
func TestReaperReapsOrphan(t *testing.T) {
	s := newSpawner(t, Options{Subreaper: true})
	spec := helperSpec(t, "w", "escape")
	p := start(t, s, spec)
	gc := atoi(t, waitReady(t, p, spec.Stdout)[0])
	st, err := readStat(gc)
	if err != nil {
		t.Fatal(err)
	}
	if st.PPID != s.self {
		t.Fatalf("escaped grandchild's parent is %d, want the subreaper %d", st.PPID, s.self)
	}
	if n, err := p.SignalStrays(syscall.SIGKILL); n != 1 || err != nil {
		t.Fatalf("SignalStrays = %d, %v", n, err)
	}
	waitFor(t, fmt.Sprintf("orphan %d reaped (state %q)", gc, state(gc)), func() bool { return state(gc) == 0 })
}

// Workers exit with distinct codes while their orphaned children die
// around them, flooding the reaper with SIGCHLD. Every Wait must still get
// its own worker's status: a reaper that waited on the wrong pid would
// turn some of them into ECHILD errors.
func TestReaperNeverStealsWorkerStatus(t *testing.T) {
	s := newSpawner(t, Options{Subreaper: true})
	const workers = 40
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := 1 + i%100
			p, err := s.Start(Spec{
				Worker: fmt.Sprintf("w%d", i), Incarnation: 1,
				// The leader exits at once; its background children become
				// orphans of the daemon and die a moment later.
				Command: []string{"/bin/sh", "-c", fmt.Sprintf("(sleep 0.0%d) & (sleep 0.0%d) & exit %d", i%10, (i+5)%10, code)},
			})
			if err != nil {
				errs <- err.Error()
				return
			}
			if e := p.Wait(); e.Code != code || e.Err != nil {
				errs <- fmt.Sprintf("worker %d: want exit %d, got %+v", i, code, e)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	waitFor(t, "no zombie children left", func() bool {
		kids, err := selfChildren(s.self, new([]byte))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range kids {
			if state(k) == 'Z' {
				return false
			}
		}
		return true
	})
}

// Children that other parts of the daemon start (probes) stay in the
// daemon's process group, and their owners reap them.
func TestReaperLeavesDaemonGroupChildren(t *testing.T) {
	s := newSpawner(t, Options{Subreaper: true})
	var ws syscall.WaitStatus
	pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "probe zombie", func() bool { return state(pid) == 'Z' })
	if err := s.reapOrphans(); err != nil {
		t.Fatal(err)
	}
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("owner's wait: %v (status %v) — the reaper took the probe", err, ws)
	}
}

func TestAppendPIDs(t *testing.T) {
	for in, want := range map[string][]int{
		"":               nil,
		"12 345 6 ":      {12, 345, 6},
		"7":              {7},
		"  8  9\n":       {8, 9},
		"4194304 1 2 3 ": {4194304, 1, 2, 3},
	} {
		if got := appendPIDs(nil, []byte(in)); !slices.Equal(got, want) {
			t.Errorf("appendPIDs(%q) = %v, want %v", in, got, want)
		}
	}
}

// The children list is read whole even when it outgrows the buffer.
func TestSelfChildrenGrowsBuffer(t *testing.T) {
	s := newSpawner(t, Options{})
	var want []int
	for range 20 {
		p := start(t, s, Spec{Worker: "w", Command: []string{"/bin/sleep", "30"}})
		t.Cleanup(func() { p.Signal(9); p.Wait() })
		want = append(want, p.PID())
	}
	buf := make([]byte, 4)
	got, err := selfChildren(s.self, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range want {
		if !slices.Contains(got, pid) {
			t.Fatalf("child %d missing from %v", pid, got)
		}
	}
	if len(buf) <= 4 {
		t.Fatalf("buffer did not grow: %d", len(buf))
	}
	orphans, err := s.orphans()
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range want {
		if slices.Contains(orphans, pid) {
			t.Fatalf("worker leader %d counted as an orphan", pid)
		}
	}
}

// Zombies that may have an owner in the daemon are left to it only for
// ReapGrace: the orphan of a probe's background child (in the daemon's
// process group) and orphans leading process groups of their own in the
// daemon's session (a worker's job-control jobs) have none, and as a
// subreaper or PID 1 the daemon is the only one that will ever reap them.
func TestReaperReapsLingeringZombies(t *testing.T) {
	s := newSpawner(t, Options{Subreaper: true, ReapGrace: 100 * time.Millisecond})
	// A probe whose background child outlives it, in the daemon's group.
	probe := exec.Command("/bin/sh", "-c", "sleep 0.2 & echo $!")
	out, err := probe.Output()
	if err != nil {
		t.Fatal(err)
	}
	orphans := []int{atoi(t, strings.TrimSpace(string(out)))}
	// A worker whose job-control jobs outlive it, each leading its group.
	spec := helperSpec(t, "w", "orphan-groups", "3", "0.2")
	p := start(t, s, spec)
	p.Wait()
	data, err := os.ReadFile(spec.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(data)) {
		orphans = append(orphans, atoi(t, f))
	}
	for _, pid := range orphans {
		waitFor(t, fmt.Sprintf("orphan %d reaped (state %q)", pid, state(pid)), func() bool { return state(pid) == 0 })
	}
}

// A worker's child that leads a process group of its own (coreutils
// timeout, Go's Setpgid, Python's process_group=0, bash -m) and outlives
// the worker is an orphan like any other: it is reaped, not taken for a
// worker leader, which only Start makes.
func TestReaperReapsSetpgidOrphan(t *testing.T) {
	s := newSpawner(t, Options{Subreaper: true})
	file := filepath.Join(t.TempDir(), "pid")
	p := start(t, s, Spec{Worker: "timeout", Incarnation: 1,
		Command: []string{"/bin/sh", "-c", "timeout 0.3 sleep 5 & echo $! > " + file + "; exit 0"}})
	p.Wait()
	var orphan int
	waitFor(t, "the orphan's pid", func() bool {
		b, err := os.ReadFile(file)
		orphan, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && orphan > 0
	})
	waitFor(t, "timeout to lead a process group of its own", func() bool {
		st, err := readStat(orphan)
		return err == nil && st.PGRP == orphan
	})
	// timeout ends after 0.3 s; a second is plenty for the reaper.
	deadline := time.Now().Add(1300 * time.Millisecond)
	for state(orphan) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("orphan %d still there (state %q) a second after it exited", orphan, state(orphan))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A pass after a worker's exit that its own Process reaped finds no
// zombie and reads no children list, which names every worker; a pass
// with an orphan's zombie reads them and reaps it.
func TestReaperPassReadsChildrenOnlyForAZombie(t *testing.T) {
	s := newSpawner(t, Options{Subreaper: true})
	for range 5 {
		p := start(t, s, Spec{Worker: "w", Command: []string{"/bin/sleep", "30"}})
		t.Cleanup(func() { p.Signal(9); p.Wait() })
	}
	quick := start(t, s, Spec{Worker: "q", Command: []string{"/bin/true"}})
	quick.Wait()
	before := s.scans.Load()
	if _, err := s.reapPass(); err != nil {
		t.Fatal(err)
	}
	if n := s.scans.Load() - before; n != 0 {
		t.Fatalf("a pass with no zombie read the children lists (%d scans)", n)
	}

	spec := helperSpec(t, "w", "escape")
	p := start(t, s, spec)
	gc := atoi(t, waitReady(t, p, spec.Stdout)[0])
	if n, err := p.SignalStrays(syscall.SIGKILL); n != 1 || err != nil {
		t.Fatalf("SignalStrays = %d, %v", n, err)
	}
	waitFor(t, fmt.Sprintf("orphan %d a zombie or gone", gc), func() bool { st := state(gc); return st == 'Z' || st == 0 })
	// Every pass goes through the zombie check, the background ones too:
	// a check that never saw one would leave the orphan a zombie for good.
	// A pass may leave a group leader's zombie while another test's fork
	// is in flight (children.Reap): pass again until it is taken.
	waitFor(t, fmt.Sprintf("orphan %d reaped", gc), func() bool {
		if _, err := s.reapPass(); err != nil {
			t.Fatal(err)
		}
		return state(gc) == 0
	})
}
