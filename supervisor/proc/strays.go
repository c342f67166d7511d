package proc

import (
	"errors"
	"syscall"
)

// Strays lists live processes outside the process group whose initial
// environment carries this incarnation's markers: descendants that left
// the group (setsid after a double fork) and so escape group signals.
// Zombies are not strays: they are dead and only wait to be reaped.
//
// Markers can be copied by anyone, so they are believed only of processes
// that the kernel already places under this daemon: its own orphans, or,
// for an incarnation adopted from an earlier daemon, processes still in
// the leader's session (a session is inherited and never joined, so its
// members descend from its leader). An incarnation with a cgroup has no
// strays: nothing it forks leaves the cgroup.
func (p *Process) Strays() []int {
	if p.group != nil {
		return nil
	}
	var out []int
	if p.adopted {
		// Not our descendant: its escapees were never reparented to us.
		scanStats(func(st stat) bool {
			if st.Session == p.leader.Session && p.isStray(st) {
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

// isStray: outside the group, alive, born no earlier than the leader, and
// carrying the markers. The markers are made here, not kept: only an
// incarnation without a cgroup ever looks for strays, and then seldom.
func (p *Process) isStray(st stat) bool {
	if st.PGRP == p.identity.PID || st.Zombie() || st.PID == p.spawner.self || st.StartTicks < p.leader.StartTicks {
		return false
	}
	wm, im := markers(p.worker, p.inc)
	return hasMarkers(st.PID, wm, im)
}

// SignalStrays sends sig to every stray and returns how many it reached.
// Each stray is pinned with a pidfd and checked again before the signal,
// so a pid recycled since the scan is never hit. With a cgroup there are
// no strays: Signal reaches everything.
func (p *Process) SignalStrays(sig syscall.Signal) (int, error) {
	var n int
	var errs []error
	for _, pid := range p.Strays() {
		sent := false
		err := signalPinned(pid, sig, func(st stat) bool {
			sent = p.isStray(st) && (!p.adopted || st.Session == p.leader.Session)
			return sent
		})
		if sent && err == nil {
			n++
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}
