package supervisor

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/cgroup"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/limits"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// What belongs to an incarnation, as the supervisor acts on it: real
// master/worker servers, escapees, leftovers of a crash.

// trackingModes runs f with the process-group rule and with cgroups.
func trackingModes(t *testing.T, f func(t *testing.T, mk func(...*WorkerSpec) *rig)) {
	t.Run("pgroup", func(t *testing.T) {
		f(t, func(s ...*WorkerSpec) *rig { return newRig(t, s...) })
	})
	t.Run("cgroup", func(t *testing.T) {
		f(t, func(s ...*WorkerSpec) *rig { return newCgroupRig(t, s...) })
	})
}

// shWorker runs script under /bin/sh; its pid files go into dir.
func shWorker(name, script string) *WorkerSpec {
	s := spec(name, []string{"/bin/sh", "-c", script})
	s.StartTimeout = 0
	s.StopTimeout = 300 * time.Millisecond
	return s
}

// masterScript forks two workers that clear their environment (as several
// servers do for theirs) and writes their pids to dir/workers.N.
func masterScript(dir string) string {
	return `
		sh -c 'echo $$ >> ` + dir + `/workers.$PPID; exec env -i /bin/sleep 1000' &
		sh -c 'echo $$ >> ` + dir + `/workers.$PPID; exec env -i /bin/sleep 1000' &
		wait`
}

// execd waits until pid runs /bin/sleep (a shell child has exec'd) and its
// arguments are laid out: the kernel switches exe first, and meanwhile
// /proc shows an empty command line and environment.
func execd(t testing.TB, pid int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		exe, _ := os.Readlink("/proc/" + itoa(pid) + "/exe")
		if args, _ := os.ReadFile("/proc/" + itoa(pid) + "/cmdline"); strings.HasSuffix(exe, "/sleep") && len(args) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d never ran sleep", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pinned holds pidfds of processes a test watches, opened while they are
// known to run: pids are recycled within seconds on a busy machine
// (pid_max 32768), and neither a check nor the cleanup may take another
// process for one of them. Whatever still runs at the end is killed.
type pinned struct {
	t   testing.TB
	fds map[int]int
}

func pin(t testing.TB, pids ...int) *pinned {
	t.Helper()
	p := &pinned{t: t, fds: map[int]int{}}
	p.add(pids...)
	t.Cleanup(func() {
		for _, fd := range p.fds {
			unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			unix.Close(fd)
		}
	})
	return p
}

func (p *pinned) add(pids ...int) {
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			p.t.Fatalf("pin %d: %v", pid, err)
		}
		p.fds[pid] = fd
	}
}

// alive: a pidfd turns readable when its process exits.
func (p *pinned) alive(pid int) bool {
	fds := []unix.PollFd{{Fd: int32(p.fds[pid]), Events: unix.POLLIN}}
	n, _ := unix.Poll(fds, 0)
	return n == 0
}

func (p *pinned) kill(pid int) { unix.PidfdSendSignal(p.fds[pid], unix.SIGKILL, nil, 0) }

// gone waits until every pinned process has exited.
func (p *pinned) gone(what string) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for pid := range p.fds {
		for p.alive(pid) {
			if time.Now().After(deadline) {
				p.t.Fatalf("%s: pid %d still alive", what, pid)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// SIGKILL a master whose workers cleared their environment: no worker of
// it survives into the restart, and the log says what was left and what
// was done about it, before the end and before the restart.
func TestMasterWorkersDoNotSurviveTheRestart(t *testing.T) {
	trackingModes(t, func(t *testing.T, mk func(...*WorkerSpec) *rig) {
		dir := t.TempDir()
		s := shWorker("master", masterScript(dir))
		s.Policy.Restart, s.Policy.BackoffInitial = policy.Always, 0
		s.StopTimeout = 15 * time.Second // as in TestCrashAdoptsTheWholeIncarnation
		r := mk(s)
		w := r.waitState("master", events.Running)
		master := pin(t, w.PID)
		workers := pin(t, proctest.WaitPids(t, filepath.Join(dir, "workers."+itoa(w.PID)), 2)...)
		for p := range workers.fds {
			execd(t, p)
		}
		master.kill(w.PID)
		w2 := r.waitFor("master", "restarted", func(w *fsm.Worker) bool { return w.Incarnation == 2 && w.State == events.Running })
		workers.gone("workers of incarnation 1")
		h := r.history("master")
		var left, sig, ended, spawned2 events.Seq
		for _, e := range h {
			switch {
			case e.Type == events.LeaderExited && e.Incarnation == 1:
				left = e.Seq
				if e.Attempt != 2 || e.Signal != 9 {
					t.Errorf("leader_exited: %d remaining, signal %d; want 2, KILL: %s", e.Attempt, e.Signal, e.Cause)
				}
			case e.Type == events.SignalSent && e.Incarnation == 1:
				sig = e.Seq
			case e.Type == events.Exited && e.Incarnation == 1:
				ended = e.Seq
			case e.Type == events.Spawned && e.Incarnation == 2:
				spawned2 = e.Seq
			}
		}
		if left == 0 || sig == 0 || ended == 0 || !(left < sig && sig < ended && ended < spawned2) {
			t.Fatalf("want leader_exited < signal_sent < exited < spawned(2); got %d %d %d %d", left, sig, ended, spawned2)
		}
		more := pin(t, proctest.WaitPids(t, filepath.Join(dir, "workers."+itoa(w2.PID)), 2)...)
		if _, err := r.sup.Stop(bg, "master", "test"); err != nil {
			t.Fatal(err)
		}
		r.waitState("master", events.Stopped)
		more.gone("workers of incarnation 2")
	})
}

// A descendant that double-forks, calls setsid, clears its environment and
// ignores SIGTERM is out of reach of the process-group rule, but not of
// the incarnation's cgroup: a stop kills it (cgroup.kill after the stop
// timeout), and so does its leader's death.
func TestEscapeeIsKilledOnStopAndOnLeaderDeath(t *testing.T) {
	dir := t.TempDir()
	escaper := func(name, then string) *WorkerSpec {
		return shWorker(name, `(setsid sh -c 'trap "" TERM; echo $$ > `+dir+`/`+name+`.$PPID; exec env -i /bin/sleep 1000' &)
			sleep 0.05; `+then)
	}
	stop := escaper("stopped", "exec /bin/sleep 1000")
	crash := escaper("crashed", "exec /bin/sleep 0.3")
	crash.Policy.Restart = policy.Never
	r := newCgroupRig(t, stop, crash)

	r.waitState("stopped", events.Running)
	esc := firstPid(t, dir, "stopped")
	escapee := pin(t, esc)
	execd(t, esc)
	if _, err := r.sup.Stop(bg, "stopped", "test"); err != nil {
		t.Fatal(err)
	}
	r.waitState("stopped", events.Killed)
	escapee.gone("the escapee on stop")
	if !slices.ContainsFunc(r.history("stopped"), func(e events.Event) bool { return e.Type == events.KillSent }) {
		t.Fatal("no kill recorded: the escapee died of the stop signal, the test proves nothing")
	}

	escapee = pin(t, firstPid(t, dir, "crashed"))
	r.waitFor("crashed", "ended", func(w *fsm.Worker) bool { return w.State == events.Killed || w.State == events.Stopped })
	escapee.gone("the escapee on its leader's death")
	h := r.history("crashed")
	if !slices.ContainsFunc(h, func(e events.Event) bool { return e.Type == events.LeaderExited && e.Attempt == 1 }) {
		t.Fatalf("no leader_exited with the escapee remaining: %v", h)
	}
	r.noGroupsBut()
}

func firstPid(t testing.TB, dir, name string) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ms, _ := filepath.Glob(filepath.Join(dir, name+".*"))
		if len(ms) > 0 {
			return proctest.WaitPids(t, ms[0], 1)[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid file for %s", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// groups lists the incarnation cgroups in the rig's subtree.
func (r *rig) groups() []string {
	ents, err := os.ReadDir(r.tree.Info().Dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && e.Name() != "supervisor" {
			out = append(out, e.Name())
		}
	}
	return out
}

// noGroupsBut waits until the subtree holds exactly the named groups.
func (r *rig) noGroupsBut(want ...string) {
	r.t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := r.groups()
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("cgroups %v, want %v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// No cgroup outlives its incarnation: after a restart, a stop, a removal
// by reload, and a crash during which a worker died.
func TestNoCgroupLeftBehind(t *testing.T) {
	a := spec("a", []string{"/bin/sleep", "1000"})
	a.Policy.Restart, a.Policy.BackoffInitial = policy.Always, 0
	b := spec("b", []string{"/bin/sleep", "1000"})
	c := spec("c", []string{"/bin/sleep", "1000"})
	r := newCgroupRig(t, a, b, c)
	wa := r.waitState("a", events.Running)
	r.waitState("b", events.Running)
	r.waitState("c", events.Running)
	r.noGroupsBut("a.1", "b.1", "c.1")

	pin(t, wa.PID).kill(wa.PID)
	r.waitFor("a", "restarted", func(w *fsm.Worker) bool { return w.Incarnation == 2 && w.State == events.Running })
	r.noGroupsBut("a.2", "b.1", "c.1")

	if _, err := r.sup.Stop(bg, "b", "test"); err != nil {
		t.Fatal(err)
	}
	r.waitState("b", events.Stopped)
	r.noGroupsBut("a.2", "c.1")

	r.load(a, b) // c removed
	r.waitFor("c", "removed", func(w *fsm.Worker) bool { return w.Removed })
	r.noGroupsBut("a.2")

	// Crash; a dies while no daemon runs; the next daemon finds its
	// empty cgroup and removes it, and starts a again (b, stopped before
	// the crash, stays stopped: the crashed daemon's decision stands).
	wa = r.waitState("a", events.Running)
	a2 := pin(t, wa.PID)
	r.crash()
	a2.kill(wa.PID)
	a2.gone("a")
	r.open()
	r.load(a, b)
	r.waitFor("a", "running again", func(w *fsm.Worker) bool { return w.Incarnation == 3 && w.State == events.Running })
	r.noGroupsBut("a.3")
	if w := r.waitFor("b", "read", func(*fsm.Worker) bool { return true }); w.State != events.Stopped || w.Incarnation != 1 {
		t.Fatalf("b is %s (incarnation %d) after the crash, want Stopped as the operator left it", w.State, w.Incarnation)
	}
	if _, err := r.sup.Start(bg, "b", "test"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("b", "running again", func(w *fsm.Worker) bool { return w.Incarnation == 2 && w.State == events.Running })
	r.noGroupsBut("a.3", "b.2")
	r.close()
	r.sup = nil
	if _, err := os.Stat(r.tree.Info().Dir); !os.IsNotExist(err) {
		t.Fatalf("the subtree is still there after the daemon stopped every worker: %v", err)
	}
}

// A crash while a master and its unmarked workers run, and an escapee
// with them: the next daemon adopts the incarnation whole; a stop then
// ends all of it. With the process-group rule the master's group is
// adopted (its workers by the rule); the escapee needs a cgroup.
func TestCrashAdoptsTheWholeIncarnation(t *testing.T) {
	trackingModes(t, func(t *testing.T, mk func(...*WorkerSpec) *rig) {
		dir := t.TempDir()
		s := shWorker("master", masterScript(dir))
		// Every process here ends on SIGTERM: a loaded machine must not
		// turn the stop into a kill (Killed, not Stopped) by taking longer
		// than shWorker's short timeout to run them down.
		s.StopTimeout = 15 * time.Second
		r := mk(s)
		w := r.waitState("master", events.Running)
		workers := pin(t, proctest.WaitPids(t, filepath.Join(dir, "workers."+itoa(w.PID)), 2)...)
		for p := range workers.fds {
			execd(t, p)
		}
		r.crash()
		r.open()
		r.load(s)
		if e := r.waitEvent("master", "adopted", func(e *events.Event) bool { return e.Type == events.Adopted }); e.PID != w.PID {
			t.Fatalf("adopted %d, want the master %d", e.PID, w.PID)
		}
		if n := count(r.history("master"), events.StrayFound, false); n != 0 {
			t.Fatalf("%d strays recorded for a whole incarnation", n)
		}
		for p := range workers.fds {
			if !workers.alive(p) {
				t.Fatalf("worker %d died in the recovery", p)
			}
		}
		if _, err := r.sup.Stop(bg, "master", "test"); err != nil {
			t.Fatal(err)
		}
		r.waitState("master", events.Stopped)
		workers.gone("workers after the stop")
	})
}

// The daemon dies after the master did, while its workers run on: the next
// daemon finds them in the incarnation's cgroup, kills them before
// anything restarts, and records them.
func TestCrashAfterTheMasterDiedKillsItsWorkers(t *testing.T) {
	dir := t.TempDir()
	s := shWorker("master", masterScript(dir))
	s.Policy.Restart, s.Policy.BackoffInitial = policy.Always, 0
	r := newCgroupRig(t, s)
	w := r.waitState("master", events.Running)
	master := pin(t, w.PID)
	workers := pin(t, proctest.WaitPids(t, filepath.Join(dir, "workers."+itoa(w.PID)), 2)...)
	for p := range workers.fds {
		execd(t, p)
	}
	r.crash()
	master.kill(w.PID)
	master.gone("the master")
	r.open()
	r.load(s)
	r.waitFor("master", "running again", func(w *fsm.Worker) bool { return w.Incarnation == 2 && w.State == events.Running })
	workers.gone("the dead master's workers")
	var stray, lost, spawned events.Seq
	for _, e := range r.history("master") {
		switch {
		case e.Type == events.StrayFound && e.Incarnation == 1:
			stray = e.Seq
			if e.Attempt != 2 || !strings.Contains(e.Cause, "main process is gone") {
				t.Errorf("stray_found: %d processes: %s", e.Attempt, e.Cause)
			}
		case e.Type == events.Lost && e.Incarnation == 1:
			lost = e.Seq
		case e.Type == events.Spawned && e.Incarnation == 2:
			spawned = e.Seq
		}
	}
	if stray == 0 || lost == 0 || spawned < lost {
		t.Fatalf("want stray_found and lost before the restart: %d %d %d", stray, lost, spawned)
	}
}

// With on_leader_exit = "leave" the end is recorded at once, the rest runs
// on, and its cgroup goes only once the rest has ended.
func TestLeaveLetsTheRestRun(t *testing.T) {
	dir := t.TempDir()
	s := shWorker("master", masterScript(dir))
	s.OnLeaderExit = core.Leave
	s.Policy.Restart, s.Policy.BackoffInitial = policy.Always, 0
	r := newCgroupRig(t, s)
	w := r.waitState("master", events.Running)
	master := pin(t, w.PID)
	workers := pin(t, proctest.WaitPids(t, filepath.Join(dir, "workers."+itoa(w.PID)), 2)...)
	for p := range workers.fds {
		execd(t, p)
	}
	master.kill(w.PID)
	w2 := r.waitFor("master", "restarted", func(w *fsm.Worker) bool { return w.Incarnation == 2 && w.State == events.Running })
	pin(t, proctest.WaitPids(t, filepath.Join(dir, "workers."+itoa(w2.PID)), 2)...)
	if n := count(r.history("master"), events.LeaderExited, false); n != 0 {
		t.Fatal("leader_exited recorded with on_leader_exit = leave")
	}
	for p := range workers.fds {
		if !workers.alive(p) {
			t.Fatalf("worker %d of the first incarnation was stopped", p)
		}
	}
	r.noGroupsBut("master.1", "master.2")
	for p := range workers.fds {
		workers.kill(p)
	}
	r.noGroupsBut("master.2")
}

// With a cgroup, the sampler counts what its members hold, an escapee's
// memory included, and the kill policy's SIGKILL (cgroup.kill) takes it.
func TestMemoryOfAnEscapeeCounts(t *testing.T) {
	argv := proctest.Command("alloc", "64")
	s := shWorker("hog", "(setsid "+strings.Join(argv, " ")+" &); exec /bin/sleep 1000")
	s.Policy.Restart = policy.Never
	s.Limits = &limits.Spec{Memory: 32 << 20, MemoryPolicy: limits.PolicyKill}
	r := newCgroupRig(t, s)
	w := r.waitState("hog", events.Killed)
	v := r.waitEvent("hog", "limit_violated", func(e *events.Event) bool { return e.Type == events.LimitViolated })
	if v.Resource != "memory" || v.Measured <= v.Limit {
		t.Fatalf("violation: %+v", v)
	}
	if w.LastExit.Signal != 9 {
		t.Fatalf("exit: %+v", w.LastExit)
	}
	r.noProcessOf("hog")
}

// The kernel's OOM kills in an incarnation's cgroup are recorded as limit
// violations by the kernel, each kill once whichever way it is learnt, and
// no policy of tend's follows from them. (This host's cgroup v2 has no
// memory controller: the report is fed as the tree's watch would.)
func TestKernelOOMIsRecordedOnce(t *testing.T) {
	s := spec("hog", []string{"/bin/sleep", "1000"})
	r := newRig(t, s)
	r.waitState("hog", events.Running)
	// The limit the kernel enforced, as the report quotes it (a rig
	// without the memory controller cannot set it).
	r.sup.ex.latest("hog").spec.CgroupLimits.MemoryMax = 64 << 20
	r.sup.KernelOOM(cgroup.OOM{Worker: "hog", Incarnation: 1, Kills: 1, New: 1})
	e := r.waitEvent("hog", "an OOM kill", func(e *events.Event) bool { return e.Type == events.LimitViolated })
	if e.Actor != events.ActorKernel || e.Stale || e.Resource != "memory" || e.Limit != 64<<20 ||
		!strings.Contains(e.Cause, "killed 1 process(es)") || !strings.Contains(e.Cause, "64 MiB") || !strings.Contains(e.Cause, "not known") {
		t.Fatalf("event: %+v", e)
	}
	r.sup.KernelOOM(cgroup.OOM{Worker: "hog", Incarnation: 1, Kills: 1, New: 1})
	r.sup.reportOOM("hog", 1, 1)
	r.sup.KernelOOM(cgroup.OOM{Worker: "hog", Incarnation: 1, Kills: 3, New: 2})
	r.waitEvent("hog", "the next two", func(e *events.Event) bool {
		return e.Type == events.LimitViolated && strings.Contains(e.Cause, "killed 2 process(es)")
	})
	if n := count(r.history("hog"), events.LimitViolated, false); n != 2 {
		t.Fatalf("%d violations recorded, want 2", n)
	}
	if w, _ := r.sup.Worker("hog"); w.State != events.Running {
		t.Fatalf("a kernel OOM report changed the state: %s", w.State)
	}
}

// slowReport is a Process whose signal takes a while to come back after
// it went out, as it does when the daemon is busy: the process it killed
// is gone before the signal's report is made.
type slowReport struct{ Process }

func (p slowReport) SignalStrays(sig syscall.Signal) (int, error) {
	time.Sleep(300 * time.Millisecond)
	return p.Process.SignalStrays(sig)
}

// The log shows a signal before the exit it caused, however long its
// report takes: a postmortem reads "SIGTERM sent, then exited", never the
// reverse.
func TestASignalIsRecordedBeforeTheExitItCaused(t *testing.T) {
	s := spec("w", []string{"/bin/sleep", "1000"})
	r := newRigWith(t, func(c *Config) {
		c.Spawner = wrapping{c.Spawner.(ProcSpawner), func(p Process) Process { return slowReport{p} }}
	}, s)
	r.waitState("w", events.Running)
	if _, err := r.sup.Stop(bg, "w", "test"); err != nil {
		t.Fatal(err)
	}
	r.waitState("w", events.Stopped)
	var sig, ended events.Seq
	for _, e := range r.history("w") {
		switch e.Type {
		case events.SignalSent:
			sig = e.Seq
		case events.Exited:
			ended = e.Seq
		}
	}
	if sig == 0 || ended == 0 || sig > ended {
		t.Fatalf("signal_sent at %d, exited at %d: want the signal first", sig, ended)
	}
}
