package proc

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/supervisor/cgroup"
	"github.com/tendhq/tend/supervisor/children"
)

// reapLoop reaps orphans after SIGCHLDs, plus a slow sweep in case signals
// were coalesced while a pass was running. A pass that finds a zombie reads
// every thread's children list, as long as the number of workers, while
// most SIGCHLDs are worker leaders' exits that their own Process reaps. So
// a pass waits
// ReapDelay after the first signal and covers every signal that arrives
// meanwhile: a restart does not share the CPU with a sweep of a thousand
// pids, and a burst of exits costs one pass. An orphan's zombie lingers
// that long; it holds only a pid. A pass that left a zombie to an owner
// that may not exist (see reapOrphans) looks again ReapGrace later.
func (s *Spawner) reapLoop(sigc chan os.Signal) {
	defer s.wg.Done()
	defer signal.Stop(sigc)
	t := time.NewTicker(s.opts.ReapEvery)
	defer t.Stop()
	var due <-chan time.Time
	for {
		select {
		case <-s.stop:
			return
		case <-sigc:
			if due == nil {
				due = time.After(s.opts.ReapDelay)
			}
			continue
		case <-due:
			due = nil
		case <-t.C:
		}
		left, err := s.reapPass()
		s.report(err)
		if left > 0 && due == nil {
			due = time.After(s.opts.ReapGrace)
		}
	}
}

// reapOrphans is one pass of the reaper.
func (s *Spawner) reapOrphans() error {
	_, err := s.reapPass()
	return err
}

// reapPass reaps zombie children that no one else will wait for, and says
// how many it left to owners that may not exist. It waits by explicit pid
// only: Wait4(-1) would also collect worker leaders and children of
// os/exec, whose owners would then get ECHILD.
//
// A child is never reaped while it is somebody's, by the record package
// children keeps: a worker leader or hook Start spawned (of this Spawner or
// another in the process), a health probe, an output relay, an alert
// command; nor a leader of its own process group while such a fork is in
// flight, which may be that fork's child before its pid is known. The next
// pass takes it if it was an orphan after all.
//
// A zombie in the daemon's own process group is left to its owner (an
// os/exec child started elsewhere in the daemon, which reaps it the moment
// it exits) the first time a pass sees it, and reaped when it is still a
// zombie ReapGrace later: it has no owner then, as the orphan of a
// background child of such a command. The daemon is a subreaper, and in a
// container PID 1, so it is the only one that will ever reap it.
//
// Everything else that became our child was reparented to us as an orphan
// of a worker tree, or of anything else in a PID namespace whose init the
// daemon is: a member of a dead leader's group, a setsid escapee, a process
// that made itself a group leader (coreutils timeout, Go's Setpgid,
// Python's process_group=0, bash -m), the leftovers of a command run in the
// container from outside. Being a group leader in the daemon's session does
// not make a process a worker leader: only Start does.
func (s *Spawner) reapPass() (int, error) {
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	// Most passes have nothing to do: the exit that raised the SIGCHLD
	// was a worker leader's, which its own Process reaped as it happened.
	// One waitid that only looks says whether any child is a zombie at
	// all; only then are the threads' children lists read, which name
	// every worker and cost the kernel a lock of its task list per name
	// (at 400 workers, a pass after every restart was 45% of the daemon's
	// CPU in a restart storm).
	if !anyZombie() {
		clear(s.lingering)
		return 0, nil
	}
	s.scans.Add(1)
	kids, err := s.orphans()
	if err != nil {
		return 0, err
	}
	now := time.Now()
	seen := make(map[int]lingering, len(s.lingering))
	var errs []error
	for _, pid := range kids {
		st, err := readStat(pid)
		if err != nil || st.PPID != s.self || !st.Zombie() {
			continue
		}
		if st.PGRP == s.selfPgid {
			l, ok := s.lingering[pid]
			if !ok || l.ticks != st.StartTicks {
				l = lingering{ticks: st.StartTicks, since: now}
			}
			if now.Sub(l.since) < s.opts.ReapGrace {
				seen[pid] = l
				continue
			}
		}
		if _, err := children.Reap(pid, st.PGRP == pid); err != nil {
			errs = append(errs, fmt.Errorf("proc: reap orphan %d: %w", pid, err))
		}
	}
	s.lingering = seen
	return len(seen), errors.Join(errs...)
}

// anyZombie reports whether some child of the daemon (of any of its
// threads) has exited and is not yet reaped, reaping none. An error other
// than having no child at all answers yes, so that the pass looks the slow
// way.
func anyZombie() bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT|unix.WALL, nil)
	switch {
	case errors.Is(err, unix.ECHILD):
		return false
	case err != nil:
		return true
	}
	// With WNOHANG and no child to report, Linux leaves si_signo 0.
	return info.Signo == int32(unix.SIGCHLD)
}

// lingering is a zombie left to its owner: its start time (a pid may be
// reused) and when a pass first saw it.
type lingering struct {
	ticks uint64
	since time.Time
}

// rotateLoop periodically rotates the output files of live incarnations.
func (s *Spawner) rotateLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.RotateEvery)
	defer t.Stop()
	var sw sweep
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.report(s.rotateAll(&sw))
	}
}

// sweep is what one pass of rotateAll needs, kept from pass to pass by
// rotateLoop: at 10,000 workers, making a list of them and a set of 20,000
// paths anew every second was half the cost of the check.
type sweep struct {
	procs []*Process
	seen  map[string]bool
	// cpu is the daemon's cgroup subtree's CPU time as the last pass that
	// looked at files found it (known says it was read), and still how
	// many passes in a row have since found it unchanged and skipped.
	cpu   time.Duration
	known bool
	still int
}

// maxStillSkip bounds how many passes in a row skip the files of
// incarnations in cgroups because no process of the subtree ran: a file
// written from outside the subtree (a process the worker handed its
// descriptor to, an operator's shell) is still looked at every eighth
// pass that its own quiet skipping would look at it.
const maxStillSkip = 7

// idle reports whether this pass may skip the files of incarnations in
// cgroups of tree: a worker's file grows only when the worker, or a child
// of it, writes, and none can write without running, which moves the
// subtree's CPU counter. At ten thousand idle workers this one read
// replaces most of a second's stats. The counter is read before the files
// are, so a write that lands during a pass moves it for the next one. A
// daemon that lives in its own subtree moves the counter itself every
// pass, and so never skips; nor does one without cgroups.
func (sw *sweep) idle(tree *cgroup.Tree) bool {
	if tree == nil {
		return false
	}
	c, err := tree.CPUTime()
	if err != nil {
		sw.known = false
		return false
	}
	if sw.known && c == sw.cpu && sw.still < maxStillSkip {
		sw.still++
		return true
	}
	sw.cpu, sw.known, sw.still = c, true, 0
	return false
}

// rotateAll rotates outside mu: copying a large file must not delay Start.
func (s *Spawner) rotateAll(sw *sweep) error {
	s.mu.Lock()
	sw.procs = sw.procs[:0]
	for _, p := range s.live {
		sw.procs = append(sw.procs, p)
	}
	s.mu.Unlock()
	if sw.seen == nil {
		sw.seen = make(map[string]bool)
	}
	clear(sw.seen)
	still := sw.idle(s.tree)
	var errs []error
	for _, p := range sw.procs {
		if still && p.group != nil {
			continue
		}
		if err := p.out.rotate(sw.seen); err != nil {
			errs = append(errs, err)
		}
	}
	clear(sw.procs) // hold no process past its pass
	return errors.Join(errs...)
}
