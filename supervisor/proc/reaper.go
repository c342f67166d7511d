package proc

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
)

// reapLoop reaps orphans after SIGCHLDs, plus a slow sweep in case signals
// were coalesced while a pass was running. A pass reads every thread's
// children list, as long as the number of workers, while most SIGCHLDs are
// worker leaders' exits that their own Process reaps. So a pass waits
// ReapDelay after the first signal and covers every signal that arrives
// meanwhile: a restart does not share the CPU with a sweep of a thousand
// pids, and a burst of exits costs one pass. An orphan's zombie lingers
// that long; it holds only a pid.
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
		s.report(s.reapOrphans())
	}
}

// reapOrphans reaps zombie children that no one else will wait for. It
// waits by explicit pid only: Wait4(-1) would also collect worker leaders
// and children of os/exec, whose owners would then get ECHILD.
//
// A child is left alone when it is
//   - a worker leader recorded by Start (its Process.Wait reaps it);
//   - in the daemon's own process group: started elsewhere in the daemon
//     (probes) and reaped by its own os/exec owner;
//   - a group leader in the daemon's session: a worker leader of another
//     Spawner in this process (tests), never an orphan of this one's;
//   - a leader of its own group while a fork is in flight: it may be a
//     worker leader that left the session and died before Start recorded
//     it. The next pass takes it if it was an orphan after all.
//
// Everything else that became our child was reparented to us as an orphan
// of a worker tree: a group member of a dead leader, or a setsid escapee.
func (s *Spawner) reapOrphans() error {
	kids, err := s.orphans()
	if err != nil {
		return err
	}
	var errs []error
	for _, pid := range kids {
		st, err := readStat(pid)
		if err != nil || st.PPID != s.self || !st.zombie() {
			continue
		}
		if st.PGRP == s.selfPgid || (st.PGRP == pid && st.Session == s.selfSid) {
			continue
		}
		// The decision and the wait happen under mu, so Start cannot
		// record this pid as a leader in between.
		s.mu.Lock()
		_, leader := s.live[pid]
		if !leader && !(s.forking > 0 && st.PGRP == pid) {
			var ws unix.WaitStatus
			if _, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err != nil && !errors.Is(err, unix.ECHILD) {
				errs = append(errs, fmt.Errorf("proc: reap orphan %d: %w", pid, err))
			}
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// rotateLoop periodically rotates the output files of live incarnations.
func (s *Spawner) rotateLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.RotateEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.report(s.rotateAll())
	}
}

// rotateAll rotates outside mu: copying a large file must not delay Start.
func (s *Spawner) rotateAll() error {
	s.mu.Lock()
	procs := make([]*Process, 0, len(s.live))
	for _, p := range s.live {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	seen := make(map[string]bool)
	var errs []error
	for _, p := range procs {
		errs = append(errs, p.out.rotate(seen))
	}
	return errors.Join(errs...)
}
