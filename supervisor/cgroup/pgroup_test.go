package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestLeaderOwns(t *testing.T) {
	// The incarnation: leader 500 in the daemon's session 100, started at
	// tick 1000.
	alive := Leader{PID: 500, StartTicks: 1000, Session: 100}
	reaped := alive
	reaped.ExitTicks = 2000
	p := func(pgrp, sid int, start uint64) ProcStat {
		return ProcStat{PID: 501, State: 'S', PGRP: pgrp, Session: sid, StartTicks: start}
	}
	cases := []struct {
		name string
		l    Leader
		p    ProcStat
		want bool
	}{
		{"the leader itself", alive, ProcStat{PID: 500, PGRP: 500, Session: 100, StartTicks: 1000}, true},
		{"a child in the group", alive, p(500, 100, 1200), true},
		{"a child born in the leader's tick", alive, p(500, 100, 1000), true},
		{"a zombie member still counts", alive, ProcStat{PID: 502, State: 'Z', PGRP: 500, Session: 100, StartTicks: 1100}, true},
		{"another group", alive, p(600, 100, 1200), false},
		{"left the group by setpgid", alive, p(501, 100, 1200), false},
		{"left the session by setsid", alive, p(501, 501, 1200), false},
		{"same group id, other session", alive, p(500, 7, 1200), false},
		{"joined from an older process (setpgid into the group)", alive, p(500, 100, 999), false},
		{"member of a reaped leader, born before the reap", reaped, p(500, 100, 1999), true},
		{"member born in the reap's tick", reaped, p(500, 100, 2000), true},
		{"a new group that reused the id after the reap", reaped, p(500, 100, 2001), false},
		{"no leader", Leader{}, p(0, 100, 1200), false},
	}
	for _, c := range cases {
		if got := c.l.Owns(c.p); got != c.want {
			t.Errorf("%s: Owns = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	line := func(comm string) []byte {
		return []byte("4242 (" + comm + ") S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n")
	}
	for _, comm := range []string{"sleep", "a b) S 9 9 9 (", ")"} {
		st, err := ParseProcStat(4242, line(comm))
		if err != nil {
			t.Fatalf("%q: %v", comm, err)
		}
		want := ProcStat{PID: 4242, State: 'S', PPID: 1, PGRP: 4242, Session: 4242, StartTicks: 98765}
		if st != want {
			t.Errorf("%q: got %+v, want %+v", comm, st, want)
		}
	}
	for _, bad := range []string{"", "4242 (x", "4242 (x) S 1 2", "4242 (x) S a 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 98765"} {
		if _, err := ParseProcStat(4242, []byte(bad)); err == nil {
			t.Errorf("ParseProcStat(%q) accepted", bad)
		}
	}
}

// The rule holds for a real process: a child in its own session leads its
// own group and owns itself, and BootTicks is not before its start. (This
// process's own group and session may read as 0: in a pid namespace whose
// session leader lives outside it, as under CI.)
func TestOwnsSelf(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	self := cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", self))
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseProcStat(self, b)
	if err != nil {
		t.Fatal(err)
	}
	if st.PGRP != self || st.Session != self {
		t.Fatalf("%+v: a child started with setsid leads neither its group nor its session", st)
	}
	now, err := BootTicks()
	if err != nil {
		t.Fatal(err)
	}
	if now < st.StartTicks {
		t.Fatalf("BootTicks %d is before this process started (%d): not the same clock", now, st.StartTicks)
	}
	l := Leader{PID: st.PGRP, Session: st.Session, StartTicks: 0, ExitTicks: now}
	if !l.Owns(st) {
		t.Fatalf("%+v does not own %+v", l, st)
	}
	if (Leader{PID: st.PGRP, Session: st.Session, ExitTicks: st.StartTicks - 1}).Owns(st) {
		t.Fatal("a process born after the reap is owned")
	}
}
