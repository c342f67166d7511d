// Package children is the daemon's record of the child processes it waits
// for itself: worker leaders (supervisor/proc) and health probes
// (supervisor/health). The daemon is a child subreaper, so orphans of its
// workers' trees become its children too, and nobody waits for those but
// the orphan reaper; it asks here which children are somebody's.
//
// A pid is recorded from the moment the fork returns until its owner has
// waited for it; while a fork is in flight, its pid is not known yet, so
// the reaper leaves every child alone that could be that one (see Reap).
//
// It may not import anything of tend's, log, or wait for any pid but the
// one Reap is asked about.
package children

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"
)

// reg is the one record for the whole process: several Spawners may run in
// one process (tests), and each one's reaper must leave the others' leaders
// alone. mu guards pids and forking; Reap waits under it, with WNOHANG,
// so that a fork cannot record a pid between the decision and the wait.
var reg struct {
	mu      sync.Mutex
	pids    map[int]struct{}
	forking int
}

// Start runs fork, which starts one child that the caller will wait for
// itself, and records the child's pid before anyone can reap it. fork
// returns the pid (ignored when err is set).
func Start(fork func() (int, error)) (int, error) {
	reg.mu.Lock()
	reg.forking++
	reg.mu.Unlock()
	pid, err := fork()
	reg.mu.Lock()
	reg.forking--
	if err == nil && pid > 0 {
		if reg.pids == nil {
			reg.pids = make(map[int]struct{})
		}
		reg.pids[pid] = struct{}{}
	}
	reg.mu.Unlock()
	return pid, err
}

// Done forgets pid once its owner has waited for it.
func Done(pid int) {
	reg.mu.Lock()
	delete(reg.pids, pid)
	reg.mu.Unlock()
}

// Owned reports whether pid is a child somebody in the daemon waits for.
func Owned(pid int) bool {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	_, ok := reg.pids[pid]
	return ok
}

// Reap waits for zombie child pid, an orphan, unless it is somebody's: a
// recorded child, or, while a fork is in flight, a child that leads a
// process group of its own (groupLeader), which may be the one being
// forked (workers and probes are spawned with Setpgid). Such a one is left
// for a later pass. It reports whether it reaped; ECHILD (reaped by
// someone else meanwhile) is not an error.
func Reap(pid int, groupLeader bool) (bool, error) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if _, ok := reg.pids[pid]; ok || (groupLeader && reg.forking > 0) {
		return false, nil
	}
	var ws unix.WaitStatus
	got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	if errors.Is(err, unix.ECHILD) {
		return false, nil
	}
	return got == pid, err
}
