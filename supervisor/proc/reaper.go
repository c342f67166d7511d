package proc

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/tendhq/tend/supervisor/children"
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
//   - in the daemon's own process group: started elsewhere in the daemon
//     and reaped by its own os/exec owner;
//   - somebody's, by the record package children keeps: a worker leader
//     Start spawned (of this Spawner or another in the process), a health
//     probe; or a leader of its own process group while such a fork is in
//     flight, which may be that fork's child before its pid is known. The
//     next pass takes it if it was an orphan after all.
//
// Everything else that became our child was reparented to us as an orphan
// of a worker tree: a member of a dead leader's group, a setsid escapee,
// or a process that made itself a group leader (coreutils timeout, Go's
// Setpgid, Python's process_group=0, bash -m). Being a group leader in the
// daemon's session does not make a process a worker leader: only Start
// does.
func (s *Spawner) reapOrphans() error {
	kids, err := s.orphans()
	if err != nil {
		return err
	}
	var errs []error
	for _, pid := range kids {
		st, err := readStat(pid)
		if err != nil || st.PPID != s.self || !st.Zombie() || st.PGRP == s.selfPgid {
			continue
		}
		if _, err := children.Reap(pid, st.PGRP == pid); err != nil {
			errs = append(errs, fmt.Errorf("proc: reap orphan %d: %w", pid, err))
		}
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
