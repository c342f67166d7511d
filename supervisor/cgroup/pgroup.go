package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// This file is the rule for hosts where no cgroup can be written: an
// incarnation is then its leader's process group, bounded by the daemon's
// session and by time. It is pure: the caller reads /proc/PID/stat.

// ProcStat is the part of /proc/PID/stat the rule reads.
type ProcStat struct {
	PID     int
	State   byte // 'R', 'S', 'D', 'Z', ...
	PPID    int
	PGRP    int
	Session int
	// StartTicks is field 22: when the process started, in clock ticks
	// (USER_HZ, 100 a second) since boot.
	StartTicks uint64
}

// Zombie reports a process that has exited and waits to be reaped.
func (s ProcStat) Zombie() bool { return s.State == 'Z' || s.State == 'X' }

// ParseProcStat parses the contents of /proc/PID/stat. The command name
// (field 2) may hold spaces and parentheses, so fields are counted from the
// last ')'.
func ParseProcStat(pid int, b []byte) (ProcStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcStat{}, fmt.Errorf("cgroup: /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return ProcStat{}, fmt.Errorf("cgroup: /proc/%d/stat: %d fields after ')'", pid, len(f))
	}
	s := ProcStat{PID: pid, State: f[0][0]}
	var errs [4]error
	s.PPID, errs[0] = strconv.Atoi(f[1])
	s.PGRP, errs[1] = strconv.Atoi(f[2])
	s.Session, errs[2] = strconv.Atoi(f[3])
	s.StartTicks, errs[3] = strconv.ParseUint(f[19], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return ProcStat{}, fmt.Errorf("cgroup: /proc/%d/stat: %w", pid, err)
	}
	return s, nil
}

// Leader is what the rule knows of an incarnation: its leader, spawned with
// a process group of its own, and the daemon's session.
type Leader struct {
	PID        int    // the leader's pid, which is the group id
	StartTicks uint64 // the leader's start, field 22 of its stat
	// ExitTicks is when the leader was reaped, in the same clock (boot
	// time in USER_HZ ticks; see BootTicks); 0 while it is unreaped.
	ExitTicks uint64
	// Session is the daemon's session id: every worker leader keeps it.
	Session int
}

// Owns reports whether process p belongs to the incarnation: its process
// group is the leader's pid, its session is the daemon's, and it started
// at or after the leader and, once the leader is reaped, no later than
// that.
//
// Why this is sound: the kernel does not reuse a pid while it is some
// process group's id, so while any member lives no other group can take the
// number; a new group with the same id can appear only after the leader was
// reaped and every member died, and anything in it started after the reap.
// A process of the daemon's session that joins the group with setpgid
// after having started before the leader (another worker's process) is
// refused by the lower bound.
//
// Its limits, which cgroups do not have: a descendant that calls setsid
// leaves the group and the session and is not owned; the ticks are 10 ms
// apart, so a process of a new group born in the very tick the old leader
// was reaped would pass (that needs the pid counter to wrap within 10 ms).
// Zombies pass: they are members that have not been reaped.
func (l Leader) Owns(p ProcStat) bool {
	if l.PID <= 0 || p.PGRP != l.PID || p.Session != l.Session {
		return false
	}
	if p.StartTicks < l.StartTicks {
		return false
	}
	return l.ExitTicks == 0 || p.StartTicks <= l.ExitTicks
}

// userHZ is the unit of /proc/PID/stat times: USER_HZ, 100 a second on
// every architecture tend runs on (x86, arm, riscv, ppc, s390).
const userHZ = 100

// BootTicks is the time since boot (CLOCK_BOOTTIME, which counts suspend,
// as the kernel's start times do) in USER_HZ ticks: take it right after the
// leader is reaped for Leader.ExitTicks.
func BootTicks() (uint64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, fmt.Errorf("cgroup: boot time: %w", err)
	}
	return uint64(ts.Sec)*userHZ + uint64(ts.Nsec)/(1e9/userHZ), nil
}
