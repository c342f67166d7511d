package proc

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Strays lists live processes outside the process group whose initial
// environment carries this incarnation's markers: descendants that left
// the group (setsid after a double fork) and so escape group signals.
// Zombies are not strays: they are dead and only wait to be reaped.
func (p *Process) Strays() []int {
	var out []int
	if p.adopted {
		// Not our descendant: its escapees were never reparented to us.
		scanStats(func(st stat) bool {
			if p.isStray(st) {
				out = append(out, st.PID)
			}
			return true
		})
		return out
	}
	// A descendant that left the group was reparented to the daemon (the
	// subreaper) once its parent died; until then its parent is in the
	// group and dies with it. So only the daemon's orphans need checking,
	// not every process on the host.
	kids, err := p.spawner.orphans()
	if err != nil {
		return nil
	}
	for _, pid := range kids {
		if st, err := readStat(pid); err == nil && p.isStray(st) {
			out = append(out, pid)
		}
	}
	return out
}

func (p *Process) isStray(st stat) bool {
	return st.PGRP != p.identity.PID && !st.zombie() && st.PID != p.spawner.self &&
		hasMarkers(st.PID, p.wMarker, p.iMarker)
}

// SignalStrays sends sig to every stray and returns how many it reached.
// Each stray is pinned with a pidfd and checked again before the signal,
// so a pid recycled since the scan is never hit.
func (p *Process) SignalStrays(sig syscall.Signal) (int, error) {
	var n int
	var errs []error
	for _, pid := range p.Strays() {
		ok, err := p.signalStray(pid, sig)
		if ok {
			n++
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

func (p *Process) signalStray(pid int, sig syscall.Signal) (bool, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false, nil // gone since the scan
	}
	defer unix.Close(fd)
	st, err := readStat(pid)
	if err != nil || !p.isStray(st) {
		return false, nil
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return false, nil
		}
		return false, fmt.Errorf("proc: signal stray %d of %q incarnation %d: %w", pid, p.worker, p.inc, err)
	}
	return true, nil
}
