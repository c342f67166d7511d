package proc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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

	"github.com/tendhq/tend/supervisor/cgroup"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// Which processes belong to an incarnation, in both ways of telling: its
// cgroup, and the process-group rule. Neither may depend on markers.

// tracking runs f once with cgroups (skipped where none can be written)
// and once with the process-group rule, each with a Spawner of its own.
func tracking(t *testing.T, f func(t *testing.T, s *Spawner)) {
	trackingWith(t, Options{Subreaper: true}, f)
}

func trackingWith(t *testing.T, opts Options, f func(t *testing.T, s *Spawner)) {
	t.Run("cgroup", func(t *testing.T) {
		o := opts
		o.Cgroups = openTree(t)
		f(t, newSpawner(t, o))
	})
	t.Run("pgroup", func(t *testing.T) {
		f(t, newSpawner(t, opts))
	})
}

// openTree opens a cgroup tree of a fresh instance, or skips. Whatever the
// test leaves in it is killed and removed at the end, failure or not.
func openTree(t *testing.T) *cgroup.Tree {
	t.Helper()
	return openInstance(t, randomInstance())
}

func randomInstance() string {
	var b [6]byte
	rand.Read(b[:])
	return "test-" + hex.EncodeToString(b[:])
}

func openInstance(t *testing.T, inst string) *cgroup.Tree {
	t.Helper()
	tr, err := cgroup.Open(inst, cgroup.Options{})
	if errors.Is(err, cgroup.ErrUnavailable) {
		t.Skipf("no writable cgroup v2 here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := tr.Info().Dir
	t.Cleanup(func() { purgeSubtree(t, inst, dir) })
	return tr
}

// purgeSubtree kills everything left in an instance's subtree and removes
// it, through a Tree of its own (the test's may be closed by then).
func purgeSubtree(t *testing.T, inst, dir string) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return
	}
	tr, err := cgroup.Open(inst, cgroup.Options{})
	if err != nil {
		t.Errorf("reopen %s: %v", inst, err)
		return
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := tr.Purge(ctx); err != nil {
		t.Errorf("purge %s: %v", dir, err)
	}
}

// shSpec runs a shell script as a worker; the script writes pids into
// files of dir.
func shSpec(t *testing.T, worker, script string) Spec {
	return Spec{Worker: worker, Incarnation: 1, Command: []string{"/bin/sh", "-c", script},
		Stdout: filepath.Join(t.TempDir(), "out"), Stderr: filepath.Join(t.TempDir(), "err")}
}

func alivePid(pid int) bool { s := state(pid); return s != 0 && s != 'Z' }

// killAtEnd SIGKILLs pid when the test ends through a pidfd opened now,
// while it is known to run: pids are recycled within seconds on a busy
// machine, and the cleanup must not hit another test's process.
func killAtEnd(t *testing.T, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pin %d: %v", pid, err)
	}
	t.Cleanup(func() {
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		unix.Close(fd)
	})
}

// environ reads a process's initial environment.
func environ(t *testing.T, pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatalf("environ of %d: %v", pid, err)
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// waitExec waits until pid runs prog (a shell's child has exec'd) and its
// arguments and environment are readable: the kernel switches exe before
// it lays them out, and meanwhile /proc shows both empty.
func waitExec(t *testing.T, pid int, prog string) {
	t.Helper()
	waitFor(t, strconv.Itoa(pid)+" running "+prog, func() bool {
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		args, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return strings.HasSuffix(exe, prog) && len(args) > 0
	})
}

// A master whose two workers clear their environment: SIGKILL the master,
// and the workers, unmarked, are still counted, signalled and waited for.
func TestMasterWorkersWithoutMarkers(t *testing.T) {
	tracking(t, func(t *testing.T, s *Spawner) {
		dir := t.TempDir()
		p := start(t, s, shSpec(t, "master", `
			sh -c 'echo $$ >> `+dir+`/pids; exec env -i /bin/sleep 1000' &
			sh -c 'echo $$ >> `+dir+`/pids; exec env -i /bin/sleep 1000' &
			wait`))
		workers := proctest.WaitPids(t, dir+"/pids", 2)
		for _, w := range workers {
			waitExec(t, w, "/sleep")
			if env := environ(t, w); slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, EnvWorker) }) {
				t.Fatalf("worker %d kept the markers: %v", w, env)
			}
			killAtEnd(t, w)
		}
		p.proc.Kill() // the master alone, through its pidfd
		p.Wait()
		if n := p.Remaining(); n != 2 {
			t.Fatalf("Remaining = %d after the master's SIGKILL, want its 2 workers", n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		if err := p.WaitGone(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitGone with the workers alive = %v", err)
		}
		cancel()
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("Signal: %v", err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := p.WaitGone(ctx); err != nil {
			t.Fatalf("WaitGone: %v", err)
		}
		for _, w := range workers {
			waitFor(t, "worker "+strconv.Itoa(w)+" dead", func() bool { return !alivePid(w) })
		}
		if n := p.Remaining(); n != 0 {
			t.Fatalf("Remaining = %d once gone", n)
		}
	})
}

// A descendant that double-forks, calls setsid and clears its
// environment: its incarnation's cgroup still holds it, so stop reaches
// it, SIGKILL reaches it, and the incarnation is not over while it lives.
func TestCgroupHoldsTheEscapee(t *testing.T) {
	s := newSpawner(t, Options{Subreaper: true, Cgroups: openTree(t)})
	dir := t.TempDir()
	p := start(t, s, shSpec(t, "escaper", `
		(setsid sh -c 'echo $$ > `+dir+`/esc; exec env -i /bin/sleep 1000' &)
		exec /bin/sleep 1000`))
	esc := proctest.WaitPids(t, dir+"/esc", 1)[0]
	killAtEnd(t, esc)
	waitExec(t, esc, "/sleep")
	if st, _ := readStat(esc); st.Session == p.leader.Session || st.PGRP == p.PID() {
		t.Fatalf("the escapee did not leave: %+v", st)
	}
	if !p.Cgroup().Has(esc) {
		t.Fatal("the escapee is not in the incarnation's cgroup")
	}
	if got := p.Strays(); len(got) != 0 {
		t.Fatalf("Strays with a cgroup = %v", got)
	}
	// Stop: the stop signal reaches the escapee.
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.Wait()
	waitFor(t, "escapee dead on SIGTERM", func() bool { return !alivePid(esc) })
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := p.WaitGone(ctx); err != nil {
		t.Fatal(err)
	}
	p.Release()
	if _, err := os.Stat(p.Cgroup().Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the cgroup is still there after Release: %v", err)
	}
}

// On the leader's death the escapee that ignores SIGTERM is what remains;
// SIGKILL (cgroup.kill) takes it.
func TestCgroupKillTakesWhatIgnoresTerm(t *testing.T) {
	s := newSpawner(t, Options{Subreaper: true, Cgroups: openTree(t)})
	dir := t.TempDir()
	p := start(t, s, shSpec(t, "stubborn", `
		(setsid sh -c 'trap "" TERM; echo $$ > `+dir+`/esc; exec env -i /bin/sleep 1000' &)
		exit 3`))
	esc := proctest.WaitPids(t, dir+"/esc", 1)[0]
	killAtEnd(t, esc)
	waitExec(t, esc, "/sleep")
	if ex := p.Wait(); ex.Code != 3 {
		t.Fatalf("exit %v", ex)
	}
	if n := p.Remaining(); n != 1 {
		t.Fatalf("Remaining = %d, want the escapee", n)
	}
	p.Signal(syscall.SIGTERM)
	time.Sleep(50 * time.Millisecond)
	if !alivePid(esc) {
		t.Fatal("the escapee died of SIGTERM: the test proves nothing about SIGKILL")
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := p.WaitGone(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "escapee dead", func() bool { return !alivePid(esc) })
}

// A decoy that copies an incarnation's markers but does not descend from
// it is never counted, signalled or listed as a leftover.
//
// The decoy must not descend from the daemon (this test process), as no
// local user's process does: the Spawner is not a subreaper here, and the
// decoy is double-forked, so its parent is init.
func TestDecoyWithCopiedMarkersIsLeftAlone(t *testing.T) {
	trackingWith(t, Options{}, func(t *testing.T, s *Spawner) {
		spec := shSpec(t, "real", "exec /bin/sleep 1000")
		spec.Env = []string{EnvInstance + "=decoy-test"}
		p := start(t, s, spec)
		waitExec(t, p.PID(), "/sleep")
		dir := t.TempDir()
		// Its own session, and every marker of the worker.
		setsid := exec.Command("/usr/bin/setsid", "-f", "/bin/sh", "-c", "echo $$ > "+dir+"/decoy; exec /bin/sleep 1000")
		setsid.Env = environ(t, p.PID())
		// No pipes: the decoy would hold them open.
		if err := setsid.Run(); err != nil {
			t.Fatalf("setsid: %v", err)
		}
		decoy := proctest.WaitPids(t, dir+"/decoy", 1)[0]
		killAtEnd(t, decoy)
		waitExec(t, decoy, "/sleep")
		if st, _ := readStat(decoy); st.PPID == os.Getpid() {
			t.Fatal("the decoy is this process's child: the test proves nothing")
		}
		ms, _ := FindMarked("decoy-test")
		if !slices.ContainsFunc(ms, func(m Marked) bool { return m.Identity.PID == decoy }) {
			t.Fatalf("the decoy does not look marked (%+v): the test proves nothing", ms)
		}
		if err := p.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if err := p.WaitGone(ctx); err != nil {
			t.Fatal(err)
		}
		if n := p.Remaining(); n != 0 {
			t.Fatalf("Remaining = %d: the decoy was counted", n)
		}
		if n, err := p.SignalStrays(syscall.SIGKILL); n != 0 || err != nil {
			t.Fatalf("SignalStrays = %d, %v", n, err)
		}
		lo, err := s.Leftovers("decoy-test")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lo {
			if l.Leader.PID == decoy {
				t.Fatalf("the decoy is a leftover: %+v", l)
			}
		}
		if !alivePid(decoy) {
			t.Fatal("the decoy was killed")
		}
	})
}

// A later daemon (a new Spawner on the same cgroup subtree) finds exactly
// the incarnation's processes in its cgroup, adopts it by its recorded
// identity, and Discard kills a leftover whole.
func TestCgroupLeftoversAfterRestart(t *testing.T) {
	inst := randomInstance()
	first := newSpawner(t, Options{Cgroups: openInstance(t, inst)})
	dir := t.TempDir()
	keep := start(t, first, shSpec(t, "keep", `
		(setsid sh -c 'echo $$ > `+dir+`/esc; exec env -i /bin/sleep 1000' &)
		exec /bin/sleep 1000`))
	esc := proctest.WaitPids(t, dir+"/esc", 1)[0]
	killAtEnd(t, esc)
	drop := start(t, first, shSpec(t, "drop", "/bin/sleep 1000 & exec /bin/sleep 1000"))
	empty := start(t, first, shSpec(t, "empty", "exit 0"))
	empty.Wait()
	waitExec(t, keep.PID(), "/sleep")
	waitExec(t, drop.PID(), "/sleep")
	keepID, dropDir := keep.Identity(), drop.Cgroup().Dir()
	// The daemon dies: nothing is stopped, and the empty group stays too.
	emptyDir := empty.Cgroup().Dir()
	first.tree.Close()
	first.tree = nil
	first.Close()

	tr, err := cgroup.Open(inst, cgroup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	second := newSpawner(t, Options{Cgroups: tr})
	lo, err := second.Leftovers("unused")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Leftover{}
	for _, l := range lo {
		byName[l.Worker] = l
	}
	if l := byName["keep"]; l.Procs != 2 || l.Leader != keepID {
		t.Fatalf("keep's leftover = %+v, want its leader %+v and 2 processes", l, keepID)
	}
	if l := byName["drop"]; l.Procs != 2 || l.Leader.PID != drop.PID() {
		t.Fatalf("drop's leftover = %+v", l)
	}
	if l, ok := byName["empty"]; !ok || l.Procs != 0 {
		t.Fatalf("empty's leftover = %+v (listed: %v)", l, ok)
	}
	p, err := second.Adopt("keep", 1, keepID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Cgroup() == nil || !p.Cgroup().Has(esc) {
		t.Fatal("the adopted incarnation lost its cgroup")
	}
	if n, err := second.Discard(byName["drop"], true); n != 2 || err != nil {
		t.Fatalf("Discard(drop) = %d, %v", n, err)
	}
	if n, err := second.Discard(byName["empty"], true); n != 0 || err != nil {
		t.Fatalf("Discard(empty) = %d, %v", n, err)
	}
	waitFor(t, "drop's cgroup removed", func() bool { _, err := os.Stat(dropDir); return errors.Is(err, os.ErrNotExist) })
	if _, err := os.Stat(emptyDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the empty leftover is still there: %v", err)
	}
	// The adopted one is stopped whole, escapee included.
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := p.WaitGone(ctx); err != nil {
		t.Fatal(err)
	}
	p.Release()
	waitFor(t, "escapee dead", func() bool { return !alivePid(esc) })
}

// A hook found by its cgroup cannot be ended by a spawner without cgroups
// (it says so, rather than kill by a pid it never checked), and a hook
// cgroup already gone is no error: the hook ended on its own.
func TestEndHookWithoutItsCgroup(t *testing.T) {
	h := HookLeftover{Worker: "web", Kind: "prestart", Incarnation: 3, Cgroup: true}
	plain := newSpawner(t, Options{})
	if err := plain.EndHook(h, time.Second); !errors.Is(err, ErrNoCgroup) {
		t.Errorf("EndHook of a cgroup's hook without cgroups: %v, want ErrNoCgroup", err)
	}
	s := newSpawner(t, Options{Cgroups: openTree(t)})
	if err := s.EndHook(h, time.Second); err != nil {
		t.Errorf("EndHook of a hook whose cgroup is gone: %v, want nil", err)
	}
}
