package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// Exact process ownership, end to end: the real daemon, real master/worker
// servers, escapees, setpgid orphans, a SIGKILLed daemon and a decoy.

// eachTracking runs f under process_tracking = "cgroup" (skipped where this
// host has no writable cgroup v2) and "pgroup".
func eachTracking(t *testing.T, f func(t *testing.T, mode string)) {
	for _, mode := range []string{"cgroup", "pgroup"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "cgroup" && cgroupDir(filepath.Join(t.TempDir(), "probe.db")) == "" {
				t.Skip("no writable cgroup v2 here")
			}
			f(t, mode)
		})
	}
}

// pins holds pidfds of processes a test watches, opened while they are
// known to run: pids are recycled within seconds here, and no check or
// cleanup may take another process for one of them.
type pins struct {
	t   *testing.T
	fds map[int]int
}

func pinProcs(t *testing.T, pids ...int) *pins {
	t.Helper()
	p := &pins{t: t, fds: map[int]int{}}
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatalf("pin %d: %v", pid, err)
		}
		p.fds[pid] = fd
	}
	t.Cleanup(func() {
		for _, fd := range p.fds {
			unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			unix.Close(fd)
		}
	})
	return p
}

func (p *pins) alive(pid int) bool {
	n, _ := unix.Poll([]unix.PollFd{{Fd: int32(p.fds[pid]), Events: unix.POLLIN}}, 0)
	return n == 0
}

func (p *pins) allAlive(what string) {
	p.t.Helper()
	for pid := range p.fds {
		if !p.alive(pid) {
			p.t.Fatalf("%s: pid %d died", what, pid)
		}
	}
}

func (p *pins) gone(what string) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for pid := range p.fds {
		for p.alive(pid) {
			if time.Now().After(deadline) {
				p.t.Fatalf("%s: pid %d still runs", what, pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (p *pins) kill(pid int) { unix.PidfdSendSignal(p.fds[pid], unix.SIGKILL, nil, 0) }

// masterWorker is a worker section whose program forks two workers that
// clear their environment, as several servers do for theirs, and writes
// their pids to dir/NAME.<master pid>.
func masterWorker(name, dir, extra string) string {
	script := `sh -c 'echo $$ >> ` + dir + `/` + name + `.$PPID; exec env -i /bin/sleep 1000' &
sh -c 'echo $$ >> ` + dir + `/` + name + `.$PPID; exec env -i /bin/sleep 1000' &
wait`
	return fmt.Sprintf("[worker.%s]\ncommand = [\"/bin/sh\", \"-c\", %q]\nstart_timeout = \"0s\"\nstop_timeout = \"1s\"\n%s\n", name, script, extra)
}

func trackingConf(mode string) string {
	return "[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\nprocess_tracking = \"" + mode + "\"\n\n"
}

// cgroupGroups lists the incarnation cgroups in the daemon's subtree.
func cgroupGroups(t *testing.T, db string) []string {
	dir := cgroupDir(db)
	if dir == "" {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

// SIGKILL a master whose workers cleared their environment: before the
// restart nothing of it runs any more, whatever the mode, and the log says
// what was left and what was done about it.
func TestMasterSIGKILLLeavesNothing(t *testing.T) {
	eachTracking(t, func(t *testing.T, mode string) {
		e := newEnv(t, "")
		dir := t.TempDir()
		e.write(trackingConf(mode) + masterWorker("master", dir, "restart = \"always\"\nbackoff_initial = \"0s\""))
		e.startDaemon()
		w := e.waitStatus("master", "running", running)
		if w.Tracking != mode {
			t.Fatalf("status says tracking %q, want %q: %+v", w.Tracking, mode, w)
		}
		master := pinProcs(t, w.PID)
		workers := pinProcs(t, proctest.WaitPids(t, filepath.Join(dir, "master."+strconv.Itoa(w.PID)), 2)...)
		master.kill(w.PID)
		w2 := e.waitStatus("master", "restarted", func(s client.WorkerStatus) bool { return running(s) && s.Incarnation == 2 })
		workers.gone("the first master's workers")
		h := e.history("master")
		var seqs [4]events.Seq
		for _, ev := range h {
			switch {
			case ev.Type == "leader_exited" && ev.Incarnation == 1:
				seqs[0] = ev.Seq
				if !strings.Contains(ev.Cause, "2 other process(es)") {
					t.Errorf("leader_exited: %s", ev.Cause)
				}
			case ev.Type == "signal_sent" && ev.Incarnation == 1:
				seqs[1] = ev.Seq
			case ev.Type == "exited" && ev.Incarnation == 1:
				seqs[2] = ev.Seq
			case ev.Type == "spawned" && ev.Incarnation == 2:
				seqs[3] = ev.Seq
			}
		}
		if !(seqs[0] > 0 && seqs[0] < seqs[1] && seqs[1] < seqs[2] && seqs[2] < seqs[3]) {
			t.Fatalf("want leader_exited < signal_sent < exited < spawned(2), got %v", seqs)
		}
		more := pinProcs(t, proctest.WaitPids(t, filepath.Join(dir, "master."+strconv.Itoa(w2.PID)), 2)...)
		e.stopDaemon()
		more.gone("the second master's workers after the daemon stopped")
		if dir := cgroupDir(e.db()); mode == "cgroup" {
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("cgroup subtree %s left behind after an orderly stop: %v", dir, err)
			}
		}
	})
}

// startDecoy starts a process with every marker of pid's environment, in
// a process group and a session of its own, descending from nothing of
// tend's, and pins it.
func startDecoy(t *testing.T, pid int) (int, *pins) {
	t.Helper()
	// A process in the middle of an exec shows no environment: a hook
	// read as it exec'd its sleep gave the decoy none, and no marker to
	// copy (under load, one run in a few).
	var env []byte
	for deadline := time.Now().Add(5 * time.Second); len(env) == 0; time.Sleep(10 * time.Millisecond) {
		var err error
		if env, err = os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ"); err != nil {
			t.Fatal(err)
		}
		if len(env) == 0 && time.Now().After(deadline) {
			t.Fatalf("pid %d shows no environment to copy", pid)
		}
	}
	cmd := exec.Command("/bin/sleep", "1000")
	cmd.Env = strings.Split(strings.TrimRight(string(env), "\x00"), "\x00")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid, pinProcs(t, cmd.Process.Pid)
}

// The daemon is SIGKILLed while a master with unmarked workers, a worker
// whose child leads a process group of its own, and (with cgroups) a
// worker whose descendant double-forked, called setsid and cleared its
// environment all run, beside a decoy that copied a worker's markers but
// descends from nothing of tend's. The next daemon adopts exactly the
// workers, kills nothing, never touches the decoy, and a stop then ends
// every process of every worker.
func TestCrashAdoptsExactlyTheWorkers(t *testing.T) {
	eachTracking(t, func(t *testing.T, mode string) {
		e := newEnv(t, "")
		dir := t.TempDir()
		conf := trackingConf(mode) + masterWorker("master", dir, "") + fmt.Sprintf(`
[worker.timer]
command = ["/bin/sh", "-c", "timeout 1000 /bin/sleep 1000 & echo $! > %[1]s/timer; wait"]
start_timeout = "0s"
stop_timeout = "1s"
`, dir)
		if mode == "cgroup" {
			conf += fmt.Sprintf(`
[worker.escaper]
command = ["/bin/sh", "-c", "(setsid sh -c 'echo $$ > %[1]s/escaper; exec env -i /bin/sleep 1000' &); exec /bin/sleep 1000"]
start_timeout = "0s"
stop_timeout = "1s"
`, dir)
		}
		e.write(conf)
		// A session of its own, as under systemd: the decoy below is in
		// the test's.
		inSession := func(c *exec.Cmd) { c.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
		e.startDaemonWith(inSession)
		names := []string{"master", "timer"}
		if mode == "cgroup" {
			names = append(names, "escaper")
		}
		before := map[string]client.WorkerStatus{}
		for _, n := range names {
			before[n] = e.waitStatus(n, "running", running)
		}
		var procs []int
		procs = append(procs, proctest.WaitPids(t, filepath.Join(dir, "master."+strconv.Itoa(before["master"].PID)), 2)...)
		procs = append(procs, proctest.WaitPids(t, filepath.Join(dir, "timer"), 1)...)
		if mode == "cgroup" {
			procs = append(procs, proctest.WaitPids(t, filepath.Join(dir, "escaper"), 1)...)
		}
		for _, n := range names {
			procs = append(procs, before[n].PID)
		}
		// Which is which, for a failure that names a pid.
		t.Logf("master's children, timer's timeout, [escaper,] then the leaders of %v: %v", names, procs)
		all := pinProcs(t, procs...)

		// The decoy: every marker of the master, a process group and a
		// session of its own, and not a descendant of the daemon.
		decoyPID, decoy := startDecoy(t, before["master"].PID)
		if ms, _ := findMarked(e.db()); !slices.Contains(ms, decoyPID) {
			t.Fatalf("the decoy does not carry the markers (%v): the test proves nothing", ms)
		}

		e.killDaemon()
		all.allAlive("workers after the daemon's SIGKILL")
		e.startDaemonWith(inSession)
		for _, n := range names {
			w := e.waitStatus(n, "running", running)
			if w.PID != before[n].PID || w.Incarnation != before[n].Incarnation {
				t.Fatalf("%s after the crash: %+v, before %+v", n, w, before[n])
			}
			if !hasEvent(e.history(n), func(ev events.JSON) bool { return ev.Type == "adopted" && ev.PID == w.PID }) {
				t.Fatalf("%s: not adopted", n)
			}
			if hasEvent(e.history(n), func(ev events.JSON) bool { return ev.Type == "stray_found" }) {
				t.Fatalf("%s: a stray was found in a whole incarnation: %+v", n, e.history(n))
			}
		}
		all.allAlive("workers after the recovery")
		decoy.allAlive("the decoy after the recovery")

		e.mustTend("stop", "--all")
		all.gone("every process of every worker after the stop")
		decoy.allAlive("the decoy after the stop")
		if g := cgroupGroups(t, e.db()); len(g) != 0 {
			t.Fatalf("cgroups left after every worker stopped: %v", g)
		}
	})
}

// A worker's child that made itself a process group leader (coreutils
// timeout) and outlives it is reaped by the daemon: no zombie under it a
// second after it exited.
func TestSetpgidOrphanIsReaped(t *testing.T) {
	eachTracking(t, func(t *testing.T, mode string) {
		e := newEnv(t, "")
		dir := t.TempDir()
		e.write(trackingConf(mode) + fmt.Sprintf(`
[worker.w]
command = ["/bin/sh", "-c", "timeout 0.3 /bin/sleep 5 & echo $! > %s/timeout; exit 0"]
start_timeout = "0s"
restart = "never"
on_leader_exit = "leave"
`, dir))
		e.startDaemon()
		orphan := proctest.WaitPids(t, filepath.Join(dir, "timeout"), 1)[0]
		e.waitStatus("w", "stopped", func(s client.WorkerStatus) bool { return s.State == "Stopped" })
		time.Sleep(1300 * time.Millisecond) // 0.3 s to its exit, then a second
		for _, task := range must(filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", e.daemon.Process.Pid))) {
			b, _ := os.ReadFile(task)
			for _, f := range strings.Fields(string(b)) {
				pid, _ := strconv.Atoi(f)
				st, _ := os.ReadFile("/proc/" + f + "/stat")
				if s := string(st); strings.Contains(s[strings.LastIndexByte(s, ')')+1:], " Z ") {
					t.Fatalf("zombie %d under the daemon (the orphan was %d)", pid, orphan)
				}
			}
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(orphan)); !os.IsNotExist(err) {
			t.Fatalf("orphan %d still there: %v", orphan, err)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Where the daemon's own cgroup was not delegated to it (here: a cgroup
// the test makes and starts it in), "auto" falls back to process groups and
// says why in its start event, tend status and the log; "cgroup" takes that
// cgroup as delegated and makes its subtree inside. Where no cgroup2 is
// mounted at all (a mount namespace without it), "cgroup" refuses to start,
// naming the key, and "auto" says why.
func TestTrackingFallsBackAndSaysWhy(t *testing.T) {
	root := cgroupDir(filepath.Join(t.TempDir(), "probe.db"))
	if root == "" || os.Getuid() != 0 {
		t.Skip("needs root and a writable cgroup v2")
	}
	outer := filepath.Join(filepath.Dir(root), "tend-test-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.Mkdir(outer, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(outer) })
	// The daemon starts inside it: a shell moves itself there, then execs.
	wrap := func(c *exec.Cmd) {
		c.Args = append([]string{"/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, outer}, c.Args...)
		c.Path = "/bin/sh"
	}
	worker := fmt.Sprintf("[worker.a]\ncommand = %s\n", helperCmd("hang"))

	e := newEnv(t, "")
	e.write(trackingConf("auto") + worker)
	e.startDaemonWith(wrap)
	w := e.waitStatus("a", "running", running)
	if w.Tracking != "pgroup" || w.Cgroup != "" {
		t.Fatalf("status: %+v", w)
	}
	st := e.fullStatus()
	if st.Tracking == nil || st.Tracking.Mode != "pgroup" || !strings.Contains(st.Tracking.Why, "not delegated") ||
		!strings.Contains(st.Tracking.Why, `process_tracking = "cgroup"`) {
		t.Fatalf("status tracking: %+v", st.Tracking)
	}
	if out := e.mustTend("status"); !strings.Contains(out, "processes: tracked by pgroup (cgroups not used: ") {
		t.Fatalf("status table:\n%s", out)
	}
	if out := e.mustTend("events", "--type", "daemon_started", "-o", "json"); !strings.Contains(out, "processes tracked by process group: cgroups not used: the daemon's cgroup is not delegated") {
		t.Fatalf("daemon_started: %s", out)
	}
	e.stopDaemon()

	e.write(trackingConf("cgroup") + worker)
	e.startDaemonWith(wrap)
	w = e.waitStatus("a", "running", running)
	if w.Tracking != "cgroup" || !strings.HasPrefix(w.Cgroup, outer+"/tend-") {
		t.Fatalf("with process_tracking = \"cgroup\" in an undelegated cgroup: %+v", w)
	}
	e.stopDaemon()
	if ents, _ := os.ReadDir(outer); slices.ContainsFunc(ents, func(d os.DirEntry) bool { return d.IsDir() }) {
		t.Fatalf("left in %s after an orderly stop: %v", outer, ents)
	}

	// No cgroup2 in the daemon's mount namespace (unmounted there only).
	noCgroup2 := []string{"unshare", "-m", "sh", "-c", `umount /sys/fs/cgroup/unified 2>/dev/null; grep -q " cgroup2 " /proc/self/mountinfo && exit 77; exec "$@"`, "sh", tendBin, "daemon", "-c", e.conf}
	out, err := exec.Command(noCgroup2[0], noCgroup2[1:]...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 77 {
		t.Skip("cgroup2 is mounted somewhere else too; cannot hide it")
	}
	if err == nil || !strings.Contains(string(out), "daemon.process_tracking") || !strings.Contains(string(out), "no cgroup2 filesystem") {
		t.Fatalf("process_tracking = \"cgroup\" without cgroup2: %v\n%s", err, out)
	}
}

// A kernel-enforced limit whose controller this host's cgroup v2 does not
// have is refused by tend check and by the daemon, at its key.
func TestKernelLimitWithoutController(t *testing.T) {
	e := newEnv(t, "")
	e.write(trackingConf("auto") + "[worker.a]\ncommand = [\"/bin/sleep\", \"1000\"]\n[worker.a.limits]\nmemory_max = \"64MiB\"\n")
	dir := cgroupDir(e.db())
	if dir == "" {
		t.Skip("no writable cgroup v2 here")
	}
	ctrls, _ := os.ReadFile(filepath.Join(filepath.Dir(dir), "cgroup.controllers"))
	if strings.Contains(string(ctrls), "memory") {
		t.Skip("this host's cgroup v2 has the memory controller")
	}
	_, errOut, code := e.tend("check")
	if code == 0 || !strings.Contains(errOut, "worker.a.limits.memory_max") || !strings.Contains(errOut, "memory controller") {
		t.Fatalf("check: %d %s", code, errOut)
	}
	cmd := exec.Command(tendBin, "daemon", "-c", e.conf)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "worker.a.limits.memory_max") {
		t.Fatalf("daemon: %v\n%s", err, out)
	}
	e.write(trackingConf("pgroup") + "[worker.a]\ncommand = [\"/bin/sleep\", \"1000\"]\n[worker.a.limits]\npids_max = 10\n")
	if _, errOut, code := e.tend("check"); code == 0 || !strings.Contains(errOut, `process_tracking = \"pgroup\"`) && !strings.Contains(errOut, "process group") {
		t.Fatalf("check with pgroup: %d %s", code, errOut)
	}
}

// The daemon is SIGKILLed while a pre_start runs. The next daemon finds
// the hook by what the kernel says of it, never by its environment: with
// cgroups by the hook's own cgroup (so a process the hook started, which
// left its session and cleared its environment, dies with it, and the
// next daemon may run in another session); without, by its markers, but
// only in a session tend's daemons hold. A decoy that copied every marker
// of the hook, in a session of its own, is neither killed nor recorded.
func TestCrashFindsHooksByTheKernel(t *testing.T) {
	eachTracking(t, func(t *testing.T, mode string) {
		e := newEnv(t, "")
		dir := t.TempDir()
		pids, mark, esc := filepath.Join(dir, "pids"), filepath.Join(dir, "mark"), filepath.Join(dir, "esc")
		escape := ""
		if mode == "cgroup" {
			escape = `(setsid sh -c 'echo $$ > ` + esc + `; exec env -i /bin/sleep 1000' &); `
		}
		e.write(trackingConf(mode) + fmt.Sprintf(`[worker.mig]
command = %s
start_timeout = "100ms"
pre_start = %s
hook_timeout = "2m"
`, helperCmd("hang"), sh(`echo $$ >> `+pids+`; if [ -e `+mark+` ]; then exit 0; fi; touch `+mark+`; `+escape+`exec /bin/sleep 1000`)))
		// With cgroups each daemon runs in a session of its own, as under
		// systemd: the cgroup alone tells the last daemon's hook. Without,
		// both are in the test's session, the one that tells it.
		var adjust func(*exec.Cmd)
		if mode == "cgroup" {
			adjust = func(c *exec.Cmd) { c.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
		}
		e.startDaemonWith(adjust)
		hook := proctest.WaitPids(t, pids, 1)
		watched := hook
		if mode == "cgroup" {
			watched = append(watched, proctest.WaitPids(t, esc, 1)...)
		}
		ended := pinProcs(t, watched...)

		decoyPID, decoy := startDecoy(t, hook[0])
		// The hook writes its pid before it execs sleep, and a process in
		// the middle of its exec shows no environment: looked at once, it
		// was missed (one run in many).
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			ms, _ := findMarked(e.db())
			if slices.Contains(ms, decoyPID) && slices.Contains(ms, hook[0]) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the hook and the decoy do not both carry the markers (%v): the test proves nothing", ms)
			}
		}

		e.killDaemon()
		ended.allAlive("the hook after the daemon's SIGKILL")
		e.startDaemonWith(adjust)
		e.waitStatus("mig", "running", running)
		ended.gone("the last daemon's hook, and what it started")
		decoy.allAlive("the decoy after the recovery")
		var found []events.JSON
		for _, ev := range e.history("mig") {
			if ev.Type == "stray_found" {
				found = append(found, ev)
			}
		}
		if len(found) != 1 || found[0].PID != hook[0] || found[0].Policy != "pre_start" || found[0].Actor != "recovery" {
			t.Fatalf("want one stray_found, the hook (pid %d); the decoy is pid %d: %+v", hook[0], decoyPID, found)
		}
		if mode == "cgroup" && (found[0].Attempt != 2 || !strings.Contains(found[0].Cause, "cgroup.kill")) {
			t.Fatalf("the hook's cgroup held 2 processes: %+v", found[0])
		}
		e.mustTend("stop", "--all")
		if g := cgroupGroups(t, e.db()); len(g) != 0 {
			t.Fatalf("cgroups left after every worker and hook ended: %v", g)
		}
		decoy.allAlive("the decoy after the stop")
	})
}
