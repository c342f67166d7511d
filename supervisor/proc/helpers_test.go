package proc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tendhq/tend/supervisor/proc/proctest"
)

func TestMain(m *testing.M) {
	proctest.Main()
	goleak.VerifyTestMain(m)
}

// patience bounds every poll; generous because helpers are race-enabled
// Go binaries on a loaded 2-core machine.
const patience = 15 * time.Second

func newSpawner(t testing.TB, opts Options) *Spawner {
	t.Helper()
	s, err := NewSpawner(opts)
	if err != nil {
		t.Fatalf("NewSpawner: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// start spawns spec and makes sure the whole incarnation is dead and
// reaped when the test ends, whatever happened in between.
func start(t *testing.T, s *Spawner, spec Spec) *Process {
	t.Helper()
	p, err := s.Start(spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		p.SignalStrays(syscall.SIGKILL)
		p.Signal(syscall.SIGKILL)
		p.Wait()
	})
	return p
}

// helperSpec runs a proctest mode with its stdout in a fresh file. The
// worker name carries the test name so that a process leaked by one test
// can never pass for a stray of another.
func helperSpec(t *testing.T, worker string, mode string, args ...string) Spec {
	return Spec{
		Worker:      t.Name() + "/" + worker,
		Incarnation: 1,
		Command:     proctest.Command(mode, args...),
		Stdout:      filepath.Join(t.TempDir(), "out"),
		Stderr:      "",
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitReady waits for the helper's "ready" line and returns the lines
// printed before it.
func waitReady(t *testing.T, p *Process, path string) []string {
	t.Helper()
	var before []string
	waitFor(t, "ready in "+path, func() bool {
		select {
		case <-p.Done():
			t.Fatalf("helper exited before ready: %v", p.Wait())
		default:
		}
		b, _ := os.ReadFile(path)
		lines := strings.Split(string(b), "\n")
		for i, l := range lines {
			if l == "ready" {
				before = lines[:i]
				return true
			}
		}
		return false
	})
	return before
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("not a pid: %q", s)
	}
	return n
}

// state is the /proc state letter of pid, or 0 when it is gone (reaped).
// kill(pid, 0) cannot tell: it succeeds on zombies.
func state(pid int) byte {
	st, err := readStat(pid)
	if err != nil {
		return 0
	}
	return st.State
}

func deadOrZombie(pid int) bool { s := state(pid); return s == 0 || s == 'Z' }
