package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// A child spawned with UseCgroupFD is born in its group: its very first
// look at /proc/self/cgroup names the group.
func TestSpawnIntoGroup(t *testing.T) {
	tr := openTree(t, Options{})
	g, err := tr.New("web", 1)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if g.FD() < 0 {
		t.Fatal("New returned no descriptor")
	}
	if f, err := eventsField(g.Dir(), "frozen"); err != nil || f != 0 {
		t.Fatalf("New left the group frozen (%d, %v): the worker would hang", f, err)
	}
	out := filepath.Join(t.TempDir(), "out")
	cmd := spawn(t, g, nil, "/bin/sh", "-c", "cat /proc/self/cgroup > "+out+".tmp; mv "+out+".tmp "+out+"; exec sleep 60")
	if g.FD() != -1 {
		t.Error("FD after CloseFD is not -1")
	}
	waitFor(t, "the child's report", func() bool { _, err := os.Stat(out); return err == nil })
	b, _ := os.ReadFile(out)
	if p, _ := parseProcCgroup(b); p != g.Path() {
		t.Fatalf("child started in %q, want %q", p, g.Path())
	}
	// The child's mv may still be exiting.
	waitFor(t, "the child alone in its group", func() bool {
		procs, err := g.Procs()
		return err == nil && slices.Equal(procs, []int{cmd.Process.Pid})
	})
	if pop, err := g.Populated(); err != nil || !pop {
		t.Fatalf("Populated = %v, %v; want true", pop, err)
	}
	if err := g.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	waitClosed(t, "Empty after Kill", g.Empty())
	cmd.Wait()
	if err := g.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(g.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("group directory still there: %v", err)
	}
}

// A descendant that double-forks, calls setsid and execs with an empty
// environment has left the process group, the session and the markers
// behind; it is still a member, and Kill takes it.
func TestEscapeeStaysInGroup(t *testing.T) {
	tr := openTree(t, Options{})
	g, err := tr.New("master", 7)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	pidFile := filepath.Join(t.TempDir(), "escapee")
	env := []string{"TEND_WORKER=master", "TEND_INCARNATION=7", "PATH=/usr/bin:/bin"}
	// The subshell forks the escapee and exits at once: a double fork.
	cmd := spawn(t, g, env, "/bin/sh", "-c",
		`(setsid env -i sleep 60 & echo $! > `+pidFile+`.tmp; mv `+pidFile+`.tmp `+pidFile+`); exec sleep 60`)
	esc := readPid(t, pidFile)
	t.Cleanup(func() {
		syscall.Kill(esc, syscall.SIGKILL)
		waitFor(t, "escapee gone", func() bool { reapOrphan(esc); return !alive(t, esc) })
	})
	waitFor(t, "the escapee to exec sleep", func() bool {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(esc) + "/comm")
		return string(b) == "sleep\n"
	})
	st, ok := stat(t, esc)
	if !ok || st.Session != esc || st.PGRP == cmd.Process.Pid {
		t.Fatalf("escapee did not leave: %+v (leader %d)", st, cmd.Process.Pid)
	}
	if b, _ := os.ReadFile("/proc/" + strconv.Itoa(esc) + "/environ"); len(b) != 0 {
		t.Fatalf("escapee kept an environment: %q", b)
	}
	procs, _ := g.Procs()
	if !slices.Contains(procs, esc) || !slices.Contains(procs, cmd.Process.Pid) {
		t.Fatalf("Procs = %v, want leader %d and escapee %d", procs, cmd.Process.Pid, esc)
	}

	// The master dies by SIGKILL: the escapee lives on, and the group is
	// not empty.
	empty := g.Empty()
	cmd.Process.Kill()
	cmd.Wait()
	time.Sleep(50 * time.Millisecond)
	select {
	case <-empty:
		t.Fatal("Empty closed while the escapee lives")
	default:
	}
	if !alive(t, esc) {
		t.Fatal("escapee died with the master; the test proves nothing")
	}
	if err := g.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	waitClosed(t, "Empty after Kill", empty)
	waitFor(t, "escapee dead", func() bool { reapOrphan(esc); return !alive(t, esc) })
	if err := g.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(g.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("group directory still there: %v", err)
	}
}

// Signal reaches members whatever their markers, and never a process
// outside the group even if it carries the same markers.
func TestSignalSparesOutsiders(t *testing.T) {
	tr := openTree(t, Options{})
	g, err := tr.New("api", 3)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	env := []string{"TEND_WORKER=api", "TEND_INCARNATION=3"}
	member := spawn(t, g, env, "/bin/sleep", "60")
	decoy := spawn(t, nil, env, "/bin/sleep", "60")

	n, err := g.Signal(syscall.SIGTERM)
	if err != nil || n != 1 {
		t.Fatalf("Signal = %d, %v; want 1, nil", n, err)
	}
	member.Wait()
	if member.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("member ended with %v, want SIGTERM", member.ProcessState)
	}
	if !alive(t, decoy.Process.Pid) {
		t.Fatal("the decoy outside the group was signalled")
	}
	// The membership check itself, both ways it can be made.
	for _, c := range []struct {
		pid  int
		want bool
	}{{decoy.Process.Pid, false}, {os.Getpid(), false}} {
		if got := procIn(c.pid, g.Path(), "/proc"); got != c.want {
			t.Errorf("procIn(%d) = %v, want %v", c.pid, got, c.want)
		}
		if ok, _ := signalMember(c.pid, 0, g.ID(), g.Path(), "/proc", 0); ok != c.want {
			t.Errorf("signalMember(%d) = %v, want %v", c.pid, ok, c.want)
		}
	}
	// Nothing left: signalling an empty group is not an error.
	if n, err := g.Signal(syscall.SIGTERM); err != nil || n != 0 {
		t.Fatalf("Signal on an empty group = %d, %v", n, err)
	}
}

// The membership check by /proc (kernels before 6.13) agrees with the
// pidfd's answer.
func TestProcInAgreesWithPidfd(t *testing.T) {
	tr := openTree(t, Options{})
	g, err := tr.New("w", 1)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	member := spawn(t, g, nil, "/bin/sleep", "60")
	if !procIn(member.Process.Pid, g.Path(), "/proc") {
		t.Fatal("procIn does not see the member")
	}
	if ok, err := signalMember(member.Process.Pid, 0, g.ID(), g.Path(), "/proc", 0); !ok || err != nil {
		t.Fatalf("signalMember(member) = %v, %v", ok, err)
	}
}

// Without cgroup.kill (kernels 5.7 to 5.13) Kill freezes, kills every
// member and thaws; nothing survives and the group is left thawed.
func TestKillWithFreezer(t *testing.T) {
	tr := openTree(t, Options{})
	tr.kill = false
	g, err := tr.New("forker", 2)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	cmd := spawn(t, g, nil, "/bin/sh", "-c", "sleep 60 & sleep 60 & (setsid sleep 60 &); wait")
	waitFor(t, "four members", func() bool { p, _ := g.Procs(); return len(p) >= 4 })
	procs, _ := g.Procs()
	if err := g.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	waitClosed(t, "Empty after Kill", g.Empty())
	cmd.Wait()
	for _, pid := range procs {
		waitFor(t, "member "+strconv.Itoa(pid)+" dead", func() bool { reapOrphan(pid); return !alive(t, pid) })
	}
	if f, err := eventsField(g.Dir(), "frozen"); err != nil || f != 0 {
		t.Fatalf("group left frozen: %d, %v", f, err)
	}
}

// Remove refuses a populated group, removes an empty one, and does nothing
// the second time.
func TestRemove(t *testing.T) {
	tr := openTree(t, Options{})
	g, err := tr.New("w", 1)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	cmd := spawn(t, g, nil, "/bin/sleep", "60")
	if err := g.Remove(); !errors.Is(err, ErrPopulated) {
		t.Fatalf("Remove of a populated group = %v, want ErrPopulated", err)
	}
	g.Kill()
	cmd.Wait()
	waitClosed(t, "Empty", g.Empty())
	if err := g.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := g.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if _, err := os.Stat(g.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("group directory still there: %v", err)
	}
	// A fresh handle for the same incarnation is a new group.
	g2, err := tr.New("w", 1)
	if err != nil {
		t.Fatalf("New after Remove: %v", err)
	}
	if g2 == g || g2.ID() == g.ID() {
		t.Fatal("New after Remove returned the removed group")
	}
}

// One goroutine watches every group: many groups emptying report through
// it, and each Empty closes.
func TestEmptyWatchesManyGroups(t *testing.T) {
	tr := openTree(t, Options{})
	const n = 12
	var groups []*Group
	var cmds []*exec.Cmd
	for i := 1; i <= n; i++ {
		g, err := tr.New("many", uint64(i))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		groups = append(groups, g)
		cmds = append(cmds, spawn(t, g, nil, "/bin/sleep", "60"))
	}
	before := runtime.NumGoroutine()
	chans := make([]<-chan struct{}, n)
	for i, g := range groups {
		chans[i] = g.Empty()
	}
	if d := runtime.NumGoroutine() - before; d > 1 {
		t.Errorf("%d goroutines for %d watches, want at most 1", d, n)
	}
	for i, c := range cmds {
		select {
		case <-chans[i]:
			t.Fatalf("group %d empty while its member lives", i+1)
		default:
		}
		c.Process.Kill()
		c.Wait()
		waitClosed(t, "Empty of group "+strconv.Itoa(i+1), chans[i])
	}
	// An Empty asked after the fact closes at once.
	waitClosed(t, "Empty of an already empty group", groups[0].Empty())
}

// Two daemons on one host each see only their own subtree.
func TestTreesAreSeparate(t *testing.T) {
	a := openTree(t, Options{})
	b := openTree(t, Options{})
	if a.Info().Dir == b.Info().Dir {
		t.Fatal("two instances share a subtree")
	}
	ga, err := a.New("same", 1)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := b.New("same", 1)
	if err != nil {
		t.Fatal(err)
	}
	ca := spawn(t, ga, nil, "/bin/sleep", "60")
	cb := spawn(t, gb, nil, "/bin/sleep", "60")
	la, _ := a.List()
	lb, _ := b.List()
	if len(la) != 1 || !slices.Equal(la[0].Procs, []int{ca.Process.Pid}) {
		t.Fatalf("a lists %+v, want only its own pid %d", la, ca.Process.Pid)
	}
	if len(lb) != 1 || !slices.Equal(lb[0].Procs, []int{cb.Process.Pid}) {
		t.Fatalf("b lists %+v, want only its own pid %d", lb, cb.Process.Pid)
	}
	// Purging one leaves the other's worker alone.
	purge(t, b)
	cb.Wait()
	if !alive(t, ca.Process.Pid) {
		t.Fatal("purging b killed a's worker")
	}
	if pop, _ := ga.Populated(); !pop {
		t.Fatal("a's group emptied by b's purge")
	}
}

// After a crash (the Tree is never closed nor its groups removed), a new
// Tree for the same instance finds every group with its members, adopts
// what the log knows, and cleans up the rest.
func TestListAfterCrash(t *testing.T) {
	inst := instance(t)
	old := openInstance(t, inst, Options{})
	g1, err := old.New("kept", 4)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := old.New("stale", 9)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Prepare("kept", 5); err != nil {
		t.Fatal(err)
	}
	c1 := spawn(t, g1, nil, "/bin/sleep", "60")
	c2 := spawn(t, g2, nil, "/bin/sleep", "60")
	// The daemon "crashes" here: nothing is closed or removed.

	tr := openInstance(t, inst, Options{})
	found, err := tr.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	got := map[string]Found{}
	for _, f := range found {
		got[f.Worker+"."+strconv.FormatUint(f.Incarnation, 10)] = f
	}
	if len(got) != 3 ||
		!got["kept.4"].Populated || !slices.Equal(got["kept.4"].Procs, []int{c1.Process.Pid}) ||
		!got["stale.9"].Populated || !slices.Equal(got["stale.9"].Procs, []int{c2.Process.Pid}) ||
		got["kept.5"].Populated || len(got["kept.5"].Procs) != 0 {
		t.Fatalf("List = %+v", found)
	}
	// The log knows kept.4: adopt it. stale.9 is unknown: kill it.
	a, err := tr.Adopt("kept", 4)
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if p, _ := a.Procs(); !slices.Equal(p, []int{c1.Process.Pid}) {
		t.Fatalf("adopted group has %v", p)
	}
	s, err := tr.Adopt("stale", 9)
	if err != nil {
		t.Fatalf("Adopt stale: %v", err)
	}
	s.Kill()
	c2.Wait()
	waitClosed(t, "stale group empty", s.Empty())
	if err := s.Remove(); err != nil {
		t.Fatalf("Remove stale: %v", err)
	}
	n, err := tr.RemoveEmpty()
	if err != nil || n != 1 {
		t.Fatalf("RemoveEmpty = %d, %v; want the one empty leftover", n, err)
	}
	found, _ = tr.List()
	if len(found) != 1 || found[0].Worker != "kept" || found[0].Incarnation != 4 {
		t.Fatalf("after cleanup List = %+v, want only kept.4", found)
	}
	if _, err := tr.Adopt("gone", 1); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Adopt of a missing group = %v, want ErrNotExist", err)
	}
}

// A hook's group stands beside its incarnation's: List leaves it out,
// Hooks lists it with its members and says whether this Tree made it, and
// a later daemon finds, kills and removes what an earlier one's hook left.
func TestHookGroupsAfterCrash(t *testing.T) {
	inst := instance(t)
	old := openInstance(t, inst, Options{})
	inc, err := old.New("w", 3)
	if err != nil {
		t.Fatal(err)
	}
	hook, err := old.NewHook("w", 3, "post_start")
	if err != nil {
		t.Fatal(err)
	}
	if hook.Hook() != "post_start" || hook.Worker() != "w" || hook.Incarnation() != 3 {
		t.Fatalf("hook group: %q %q %d", hook.Hook(), hook.Worker(), hook.Incarnation())
	}
	c1 := spawn(t, inc, nil, "/bin/sleep", "60")
	c2 := spawn(t, hook, nil, "/bin/sleep", "60")
	if mine, _ := old.Hooks(); len(mine) != 1 || !mine[0].Mine {
		t.Fatalf("the daemon's own hook: %+v", mine)
	}
	// The daemon "crashes" here.

	tr := openInstance(t, inst, Options{})
	found, err := tr.List()
	if err != nil || len(found) != 1 || found[0].Worker != "w" || found[0].Incarnation != 3 || found[0].Hook != "" ||
		!slices.Equal(found[0].Procs, []int{c1.Process.Pid}) {
		t.Fatalf("List = %+v, %v; want the incarnation alone", found, err)
	}
	hooks, err := tr.Hooks()
	if err != nil || len(hooks) != 1 || hooks[0].Worker != "w" || hooks[0].Incarnation != 3 || hooks[0].Hook != "post_start" ||
		!hooks[0].Populated || hooks[0].Mine || !slices.Equal(hooks[0].Procs, []int{c2.Process.Pid}) {
		t.Fatalf("Hooks = %+v, %v", hooks, err)
	}
	if _, err := tr.NewHook("w", 3, "post_start"); !errors.Is(err, ErrPopulated) {
		t.Fatalf("NewHook over a running hook of the last daemon = %v, want ErrPopulated", err)
	}
	g, err := tr.AdoptHook("w", 3, "post_start")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	c2.Wait()
	waitClosed(t, "the hook's group empty", g.Empty())
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if hooks, _ := tr.Hooks(); len(hooks) != 0 {
		t.Fatalf("Hooks after removal = %+v", hooks)
	}
	if pop, _ := populated(inc.dir); !pop {
		t.Fatal("killing the hook's group touched the incarnation's")
	}
	// An empty hook group nobody holds is removed with the other leftovers.
	if _, err := old.NewHook("w", 4, "pre_start"); err != nil {
		t.Fatal(err)
	}
	if n, err := tr.RemoveEmpty(); err != nil || n != 1 {
		t.Fatalf("RemoveEmpty = %d, %v; want the empty hook group", n, err)
	}
}

// New reuses an empty leftover of the same incarnation and refuses one with
// processes in it.
func TestNewLeftover(t *testing.T) {
	inst := instance(t)
	old := openInstance(t, inst, Options{})
	busy, err := old.New("w", 1)
	if err != nil {
		t.Fatal(err)
	}
	spawn(t, busy, nil, "/bin/sleep", "60")
	if err := old.Prepare("w", 2); err != nil {
		t.Fatal(err)
	}
	tr := openInstance(t, inst, Options{})
	if _, err := tr.New("w", 1); !errors.Is(err, ErrPopulated) {
		t.Fatalf("New over a populated leftover = %v, want ErrPopulated", err)
	}
	g, err := tr.New("w", 2)
	if err != nil {
		t.Fatalf("New over an empty leftover: %v", err)
	}
	if g.FD() < 0 {
		t.Fatal("no descriptor")
	}
	// RemoveEmpty keeps a group a live handle refers to.
	if n, err := tr.RemoveEmpty(); err != nil || n != 0 {
		t.Fatalf("RemoveEmpty = %d, %v; want 0 (the only empty group is in use)", n, err)
	}
}

// CPU is counted without the cpu controller; memory, pids and limits need
// their controllers, and say so when they are missing.
func TestUsageAndLimits(t *testing.T) {
	tr := openTree(t, Options{})
	g, err := tr.New("busy", 1)
	if err != nil {
		t.Fatal(err)
	}
	cmd := spawn(t, g, nil, "/bin/sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	cmd.Wait()
	u, err := g.Usage()
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if u.CPU <= 0 || u.User+u.System <= 0 {
		t.Fatalf("Usage = %+v, want CPU time", u)
	}
	if u.MemoryValid != tr.Enabled("memory") || u.PidsValid != tr.Enabled("pids") {
		t.Fatalf("Usage = %+v with controllers %v", u, tr.Info().Controllers)
	}
	err = g.SetLimits(Limits{MemoryMax: 64 << 20, PidsMax: 10})
	if tr.Enabled("memory") && tr.Enabled("pids") {
		if err != nil {
			t.Fatalf("SetLimits: %v", err)
		}
	} else if !errors.Is(err, ErrNoController) {
		t.Fatalf("SetLimits without the controllers = %v, want ErrNoController", err)
	}
	if _, err := g.OOMKills(); tr.Enabled("memory") != (err == nil) {
		t.Fatalf("OOMKills = %v with memory enabled %v", err, tr.Enabled("memory"))
	}
	if err := g.SetLimits(Limits{}); err != nil {
		t.Fatalf("empty Limits: %v", err)
	}
}

// CPUTime counts the time of processes that are gone, agrees with Usage,
// and fails as a GroupError once the group is removed.
func TestCPUTime(t *testing.T) {
	tr := openTree(t, Options{})
	g, err := tr.New("cputime", 1)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := g.CPUTime(); err != nil || d != 0 {
		t.Fatalf("CPUTime of an empty group = %v, %v", d, err)
	}
	cmd := spawn(t, g, nil, "/bin/sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	cmd.Wait()
	d, err := g.CPUTime()
	if err != nil || d <= 0 {
		t.Fatalf("CPUTime after a busy process exited = %v, %v", d, err)
	}
	if u, err := g.Usage(); err != nil || u.CPU != d {
		t.Fatalf("Usage = %+v, %v; CPUTime %v", u, err, d)
	}
	// The Tree's counter sums its groups'.
	if tt, err := tr.CPUTime(); err != nil || tt < d {
		t.Fatalf("Tree.CPUTime = %v, %v; the group's %v", tt, err, d)
	}
	if st, err := g.SharedCPUTime(); err != nil || st < d || g.SharedCounterKey() != tr.Info().Dir {
		t.Fatalf("SharedCPUTime = %v, %v, key %q; the group's %v", st, err, g.SharedCounterKey(), d)
	}
	fd, err := g.OpenCPUTime()
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	for range 2 { // read again from the start
		if kept, err := g.ReadCPUTime(fd); err != nil || kept != d {
			t.Fatalf("ReadCPUTime = %v, %v; CPUTime %v", kept, err, d)
		}
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	var ge *GroupError
	if _, err := g.CPUTime(); !errors.As(err, &ge) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("CPUTime of a removed group = %v", err)
	}
	if _, err := g.ReadCPUTime(fd); !errors.As(err, &ge) {
		t.Fatalf("ReadCPUTime of a removed group = %v", err)
	}
}

func TestUsageUsec(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"usage_usec 1122\nuser_usec 1122\nsystem_usec 0\n", 1122, true},
		{"usage_usec 0\n", 0, true},
		{"usage_usec 7", 7, true},
		{"user_usec 5\nusage_usec 9\n", 9, true},
		{"usage_usec_x 5\n", 0, false},
		{"usage_usec \n", 0, false},
		{"usage_usec -1\n", 0, false},
		{"usage_usec 99999999999999999999\n", 0, false},
		{"", 0, false},
	} {
		got, ok := usageUsec([]byte(c.in))
		if ok != c.ok || got != c.want {
			t.Errorf("usageUsec(%q) = %d, %v", c.in, got, ok)
		}
	}
}

// Where the memory controller is enabled, an OOM kill in a group is
// reported with the count.
func TestOOMReported(t *testing.T) {
	oom := make(chan OOM, 4)
	tr := openTree(t, Options{OnOOM: func(o OOM) { oom <- o }})
	if !tr.Enabled("memory") {
		t.Skipf("no memory controller for workers here (%s)", tr.Info().Missing["memory"])
	}
	g, err := tr.New("hog", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetLimits(Limits{MemoryMax: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	cmd := spawn(t, g, nil, "/bin/sh", "-c", "x=a; while :; do x=$x$x; done")
	cmd.Wait()
	select {
	case o := <-oom:
		if o.Worker != "hog" || o.Incarnation != 1 || o.Kills < 1 || o.New < 1 {
			t.Fatalf("OOM = %+v", o)
		}
	case <-time.After(patience):
		t.Fatal("no OOM report")
	}
}

// The OOM watch, on a stand-in group: inotify reports a modified file the
// same way for a regular file as for memory.events, so the watch's logic
// (count, increment, one report per rise) is tested on hosts without the
// memory controller too.
func TestOOMWatchCounts(t *testing.T) {
	dir := t.TempDir()
	oom := make(chan OOM, 8)
	tr := &Tree{dir: dir, path: "/fake", kill: true, enabled: map[string]bool{"memory": true},
		onOOM: func(o OOM) { oom <- o }, procRoot: "/proc", groups: map[string]*Group{}}
	defer tr.Close()
	events := filepath.Join(dir, "w.1", "memory.events")
	os.Mkdir(filepath.Dir(events), 0o755)
	write := func(kills int) {
		// One write over the same length, never a truncation: the
		// watcher must not read a half-written file.
		f, _ := os.OpenFile(events, os.O_WRONLY|os.O_CREATE, 0o644)
		f.WriteAt([]byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill "+strconv.Itoa(kills)+"\n"), 0)
		f.Close()
	}
	write(1)
	if _, err := tr.Adopt("w", 1); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-oom:
		t.Fatalf("reported %+v before any new kill", o)
	case <-time.After(50 * time.Millisecond):
	}
	write(3)
	select {
	case o := <-oom:
		if o.Worker != "w" || o.Incarnation != 1 || o.Kills != 3 || o.New != 2 {
			t.Fatalf("OOM = %+v, want 3 kills, 2 new", o)
		}
	case <-time.After(patience):
		t.Fatal("no OOM report")
	}
	write(3) // modified, no new kill
	select {
	case o := <-oom:
		t.Fatalf("reported %+v without a new kill", o)
	case <-time.After(50 * time.Millisecond):
	}
}

// A watch inotify could not take (the per-user limit) is polled by the
// same goroutine, and still reports.
func TestEmptyPolledWithoutInotify(t *testing.T) {
	tr := openTree(t, Options{})
	g, err := tr.New("polled", 1)
	if err != nil {
		t.Fatal(err)
	}
	cmd := spawn(t, g, nil, "/bin/sleep", "60")
	w := tr.watcher(true)
	ch := make(chan struct{})
	g.mu.Lock()
	g.empty = ch
	g.mu.Unlock()
	w.poll(&watch{kind: watchEmpty, g: g, empty: ch})
	time.Sleep(50 * time.Millisecond)
	select {
	case <-ch:
		t.Fatal("closed while the member lives")
	default:
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitClosed(t, "the polled Empty", g.Empty())
}

// A worker running as another user than root can neither leave its group
// nor make cgroups of its own in the daemon's subtree.
func TestWorkerCannotEscape(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a worker as nobody")
	}
	tr := openTree(t, Options{})
	g, err := tr.New("jail", 1)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	os.Chmod(filepath.Dir(out), 0o755) // the per-test parent is 0700 too
	os.Chmod(out, 0o777)
	report := filepath.Join(out, "report")
	script := `exec 2>/dev/null
echo $$ > ` + tr.Info().Dir + `/cgroup.procs && echo moved-to-subtree
echo $$ > ` + filepath.Dir(tr.Info().Dir) + `/cgroup.procs && echo moved-to-base
mkdir ` + tr.Info().Dir + `/mine && echo made-cgroup
mkdir ` + g.Dir() + `/nested && echo made-nested
echo done > ` + report + `.tmp; mv ` + report + `.tmp ` + report + `
exec sleep 60`
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Stdout, _ = os.Create(filepath.Join(out, "stdout"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, UseCgroupFD: true, CgroupFD: g.FD(),
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.CloseFD()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "the worker's attempts", func() bool { _, err := os.Stat(report); return err == nil })
	if b, _ := os.ReadFile(filepath.Join(out, "stdout")); len(b) != 0 {
		t.Fatalf("a worker as nobody got out: %q", b)
	}
	// The worker's last child (mv) may still be exiting.
	waitFor(t, "the worker alone in its group", func() bool {
		p, _ := g.Procs()
		return slices.Equal(p, []int{cmd.Process.Pid})
	})
	if got := cgroupOf(t, cmd.Process.Pid); got != g.Path() {
		t.Fatalf("worker in %q, want %q", got, g.Path())
	}
}

// Tree.Remove takes the whole subtree once nothing lives there, and kills
// no one to get there.
func TestTreeRemove(t *testing.T) {
	tr := openTree(t, Options{})
	busy, err := tr.New("busy", 1)
	if err != nil {
		t.Fatal(err)
	}
	cmd := spawn(t, busy, nil, "/bin/sleep", "60")
	if err := tr.Prepare("idle", 1); err != nil {
		t.Fatal(err)
	}
	if err := tr.Remove(); !errors.Is(err, ErrPopulated) {
		t.Fatalf("Remove with a live worker = %v, want ErrPopulated", err)
	}
	if !alive(t, cmd.Process.Pid) {
		t.Fatal("Remove killed a worker")
	}
	if found, _ := tr.List(); len(found) != 1 || found[0].Worker != "busy" {
		t.Fatalf("after Remove List = %+v, want only the busy group", found)
	}
	busy.Kill()
	cmd.Wait()
	waitClosed(t, "Empty", busy.Empty())
	if err := tr.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(tr.Info().Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("subtree still there: %v", err)
	}
}

// SignalExcept leaves out the members of one process group (which the
// caller signalled through its leader) and reaches every other member.
func TestSignalExceptSparesTheGroup(t *testing.T) {
	tr := openTree(t, Options{})
	g, err := tr.New("master", 1)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// The leader (its own group) and a child that left the group with a
	// session of its own.
	dir := t.TempDir()
	leader := spawn(t, g, nil, "/bin/sh", "-c", "setsid sh -c 'echo $$ > "+dir+"/esc; exec sleep 60' & exec sleep 60")
	g.CloseFD()
	esc := readPid(t, dir+"/esc")
	if !g.Has(esc) || !g.Has(leader.Process.Pid) || g.Has(os.Getpid()) {
		t.Fatalf("Has: escapee %v, leader %v, test %v", g.Has(esc), g.Has(leader.Process.Pid), g.Has(os.Getpid()))
	}
	if _, err := g.SignalExcept(syscall.SIGTERM, 0); err == nil {
		t.Fatal("SignalExcept accepted process group 0")
	}
	n, err := g.SignalExcept(syscall.SIGTERM, leader.Process.Pid)
	if err != nil || n != 1 {
		t.Fatalf("SignalExcept = %d, %v; want 1, nil", n, err)
	}
	waitFor(t, "escapee dead", func() bool { reapOrphan(esc); return !alive(t, esc) })
	if !alive(t, leader.Process.Pid) {
		t.Fatal("the leader's group was signalled")
	}
}

// The sampler reads a counter per worker per second: the parse allocates
// nothing.
func TestUsageUsecAllocatesNothing(t *testing.T) {
	b := []byte("usage_usec 123456789\nuser_usec 1\n")
	if n := testing.AllocsPerRun(100, func() { usageUsec(b) }); n != 0 {
		t.Fatalf("usageUsec allocates %v times a call", n)
	}
}

// A leader's exit asks its group's cgroup.events whether anything is left,
// and a stop of every worker writes each group's cgroup.kill: both go
// through the system calls alone. Through os.ReadFile the read allocated 8
// times (1.9 KB) and took twice as long; a write through an os.File
// registered the file with the poller first.
func TestControlFilesSkipTheFileLayer(t *testing.T) {
	tr := openTree(t, Options{})
	g, err := tr.New("w", 1)
	if err != nil {
		t.Fatal(err)
	}
	if pop, err := populated(g.dir); err != nil || pop {
		t.Fatalf("populated of an empty group = %v, %v", pop, err)
	}
	// The path, the buffer's handle, the field's text, and one more
	// under the race detector.
	const most = 4
	if n := testing.AllocsPerRun(50, func() { populated(g.dir) }); n > most {
		t.Errorf("populated allocates %.0f times, want at most %d", n, most)
	}
	if n := testing.AllocsPerRun(50, func() { g.Kill() }); n > most {
		t.Errorf("Kill allocates %.0f times, want at most %d", n, most)
	}
	if _, err := keyedField(path.Join(g.dir, "no.such"), "populated"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing control file: %v, want an error that says it does not exist", err)
	}
	if err := writeFile(path.Join(g.dir, "no.such"), "1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("writing a missing control file: %v, want an error that says it does not exist", err)
	}
}
