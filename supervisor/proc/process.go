package proc

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Process is one incarnation of a worker. Its methods are safe for
// concurrent use.
type Process struct {
	spawner  *Spawner
	proc     *os.Process // pidfd-backed; never replaced by a bare pid
	identity Identity
	worker   string
	inc      uint64
	wMarker  string          // "TEND_WORKER=<worker>"
	iMarker  string          // "TEND_INCARNATION=<n>"
	out      *outputs        // nil for an adopted process: its files belong to it
	adopted  bool            // spawned by an earlier daemon: not our child
	exited   <-chan struct{} // closed by the exit watch; nil: wait in waitid

	once sync.Once
	done chan struct{}
	exit Exit
}

// PID is the leader's pid, which is also the process group id.
func (p *Process) PID() int { return p.identity.PID }

// Identity pins this incarnation for re-adoption by a later daemon.
func (p *Process) Identity() Identity { return p.identity }

// Done is closed once the leader has been reaped and Wait's result is set.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait blocks until the leader exits, reaps it, and closes the daemon's
// copies of the output files. It reaps exactly once; every caller gets the
// same Exit.
func (p *Process) Wait() Exit {
	p.once.Do(func() {
		if p.exited != nil {
			<-p.exited // then the waits below return at once
		}
		if p.adopted {
			p.exit = p.waitAdopted()
			close(p.done)
			return
		}
		ps, err := p.proc.Wait()
		if err != nil {
			p.exit = Exit{Code: -1, Err: fmt.Errorf("proc: wait %q incarnation %d: %w", p.worker, p.inc, err)}
		} else if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			p.exit = exitFromStatus(ws)
		} else {
			p.exit = Exit{Code: -1, Err: fmt.Errorf("proc: wait %q incarnation %d: no wait status", p.worker, p.inc)}
		}
		p.spawner.forget(p)
		// The child wrote through its own descriptors; closing ours cannot
		// lose its data, so a close error has nothing to report to.
		_ = p.out.close()
		close(p.done)
	})
	return p.exit
}

// Signal sends sig to the whole process group. While the leader is
// unreaped it goes through the leader's pidfd with
// PIDFD_SIGNAL_PROCESS_GROUP, so it cannot reach a recycled pid. Once the
// leader has been reaped, members still alive are signalled with
// kill(-pgid); the kernel keeps the group id allocated while they live.
// A group with nothing left to signal is not an error.
func (p *Process) Signal(sig syscall.Signal) error {
	var serr error
	err := p.proc.WithHandle(func(fd uintptr) {
		serr = unix.PidfdSendSignal(int(fd), sig, nil, unix.PIDFD_SIGNAL_PROCESS_GROUP)
	})
	switch {
	case err == nil && serr == nil:
		return nil
	case err == nil && (errors.Is(serr, unix.ESRCH) || errors.Is(serr, unix.EINVAL)):
		// ESRCH: the leader was reaped while we held the handle.
		// EINVAL: a kernel before 6.9 without the group flag.
	case err == nil:
		return fmt.Errorf("proc: signal %q incarnation %d: %w", p.worker, p.inc, serr)
	case errors.Is(err, os.ErrProcessDone), errors.Is(err, os.ErrNoHandle):
	default:
		return fmt.Errorf("proc: signal %q incarnation %d: %w", p.worker, p.inc, err)
	}
	return p.killGroup(sig)
}

// killGroup signals the group by id, but only when a live member exists:
// an empty group's id may already belong to someone else.
func (p *Process) killGroup(sig syscall.Signal) error {
	members, err := p.markedMembers()
	if err != nil {
		return fmt.Errorf("proc: signal %q incarnation %d: %w", p.worker, p.inc, err)
	}
	if len(members) == 0 {
		return nil
	}
	if err := unix.Kill(-p.identity.PID, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("proc: signal %q incarnation %d group: %w", p.worker, p.inc, err)
	}
	return nil
}

// GroupAlive reports whether any member of the process group is alive
// (zombies do not count) or any stray of this incarnation is.
func (p *Process) GroupAlive() bool {
	return p.MembersAlive() || len(p.Strays()) > 0
}

// Remaining counts what is alive of the incarnation besides its leader
// once the leader has been reaped: members of its process group that carry
// its markers, and strays (descendants that left the group). While the
// leader is unreaped it counts as one. In the usual case, an empty group,
// the kernel answers for the group, and only the daemon's children are
// read for strays.
func (p *Process) Remaining() int {
	select {
	case <-p.done:
	default:
		return 1
	}
	n := 0
	if err := unix.Kill(-p.identity.PID, 0); err == nil || errors.Is(err, unix.EPERM) {
		members, err := p.markedMembers()
		if err != nil {
			n = 1 // cannot tell: count it as alive, and look again
		}
		n += len(members)
	}
	return n + len(p.Strays())
}

// Member reports whether pid is a live process of this incarnation: its
// leader, or a member of its process group in the daemon's session.
func (p *Process) Member(pid int) bool {
	if pid == p.identity.PID {
		return true
	}
	st, err := readStat(pid)
	return err == nil && !st.zombie() && st.PGRP == p.identity.PID && (p.adopted || st.Session == p.spawner.selfSid)
}

// MembersAlive is the cheap half of GroupAlive: whether any member of the
// process group is alive, strays aside. In the usual case, an empty group,
// the kernel answers and /proc is not read.
func (p *Process) MembersAlive() bool {
	select {
	case <-p.done:
	default:
		return true // the leader is not reaped yet
	}
	if err := unix.Kill(-p.identity.PID, 0); err == nil || errors.Is(err, unix.EPERM) {
		// Someone is in the group; zombies count for kill, not for us, and
		// after the leader is gone the number could in principle be a new
		// group's: only members carrying this incarnation's markers count.
		if members, err := p.markedMembers(); err != nil || len(members) > 0 {
			return true
		}
	}
	return false
}

// markedMembers lists live members of the process group that carry this
// incarnation's markers: once the leader is reaped its group id is only a
// number, and a number is not an identity.
func (p *Process) markedMembers() ([]int, error) {
	members, err := groupMembers(p.identity.PID)
	if err != nil {
		return nil, err
	}
	out := members[:0]
	for _, pid := range members {
		if hasMarkers(pid, p.wMarker, p.iMarker) {
			out = append(out, pid)
		}
	}
	return out, nil
}
