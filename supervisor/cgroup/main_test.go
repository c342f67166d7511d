package cgroup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary do one job in a process of its own
// instead of running tests (see helper in delegate_test.go).
const helperEnv = "TEND_CGROUP_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	// Orphans of test workers (the double-forked escapees) come back to
	// the test binary, which reaps them by pid: this container's init
	// never reaps anything.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "subreaper:", err)
		os.Exit(2)
	}
	goleak.VerifyTestMain(m)
}

// patience bounds every wait; generous for a loaded 2-core machine.
const patience = 15 * time.Second

func instance(t testing.TB) string {
	var b [6]byte
	rand.Read(b[:])
	return "test-" + hex.EncodeToString(b[:])
}

// openTree opens a Tree for a fresh instance, or skips the test with the
// reason when this host has no writable cgroup v2. Everything the test
// leaves in the subtree is killed and removed at the end, failure or not.
func openTree(t testing.TB, opts Options) *Tree {
	t.Helper()
	return openInstance(t, instance(t), opts)
}

func openInstance(t testing.TB, inst string, opts Options) *Tree {
	t.Helper()
	tr, err := Open(inst, opts)
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("cgroup v2 is not writable here, so there is nothing to test: %v", err)
	}
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { purge(t, tr) })
	return tr
}

// purge kills and removes everything in the subtree, then closes the Tree,
// and checks that the subtree is gone.
func purge(t testing.TB, tr *Tree) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := tr.Purge(ctx); err != nil {
		t.Errorf("Purge: %v", err)
	}
	tr.Close()
	if _, err := os.Stat(tr.Info().Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("subtree %s left behind (stat: %v)", tr.Info().Dir, err)
	}
}

// spawn starts argv inside g (clone3 CLONE_INTO_CGROUP) in a process group
// of its own, and kills and reaps it at the end of the test.
func spawn(t testing.TB, g *Group, env []string, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if g != nil {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = g.FD()
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	if g != nil {
		g.CloseFD()
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitClosed(t testing.TB, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(patience):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func stat(t testing.TB, pid int) (ProcStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ProcStat{}, false
	}
	st, err := ParseProcStat(pid, b)
	if err != nil {
		t.Fatalf("parse stat: %v", err)
	}
	return st, true
}

// alive reports whether pid is a live process: zombies are dead.
func alive(t testing.TB, pid int) bool {
	st, ok := stat(t, pid)
	return ok && !st.Zombie()
}

// readPid waits for a file holding one pid and returns it.
func readPid(t testing.TB, file string) int {
	t.Helper()
	var pid int
	waitFor(t, "a pid in "+file, func() bool {
		b, err := os.ReadFile(file)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

// cgroupOf is the "0::" line of /proc/PID/cgroup.
func cgroupOf(t testing.TB, pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	p, _ := parseProcCgroup(b)
	return strings.TrimSpace(p)
}

// reapOrphan reaps pid once it is a zombie child of the test binary (an
// orphan handed to the subreaper).
func reapOrphan(pid int) {
	var ws unix.WaitStatus
	_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
}
