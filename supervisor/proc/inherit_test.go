package proc

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// workerFDs starts spec (a print-fds helper) and returns the descriptor
// numbers it was started with, with their targets.
func workerFDs(t *testing.T, s *Spawner, spec Spec) map[string]string {
	t.Helper()
	p := start(t, s, spec)
	fds := map[string]string{}
	for _, l := range waitReady(t, p, spec.Stdout) {
		if n, target, ok := strings.Cut(l, " -> "); ok {
			fds[n] = target
		}
	}
	return fds
}

// A descriptor the daemon holds without close-on-exec, inherited from
// whoever started it or opened by C code, must not reach a worker.
func TestWorkerInheritsOnlyStdio(t *testing.T) {
	leak := filepath.Join(t.TempDir(), "leaked")
	if err := os.WriteFile(leak, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(leak, syscall.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	dup, err := syscall.Dup(fd) // dup never copies close-on-exec
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(dup)

	s := newSpawner(t, Options{})
	fds := workerFDs(t, s, helperSpec(t, "w", "print-fds"))
	if len(fds) != 3 || fds["0"] == "" || fds["1"] == "" || fds["2"] == "" {
		t.Fatalf("worker started with descriptors %v, want exactly 0, 1 and 2 (leaked %d and %d: %s)", fds, fd, dup, leak)
	}
}

// A descriptor the daemon inherited gets close-on-exec as soon as the
// Spawner exists, so that what the daemon runs before any worker (a
// health probe through os/exec) does not inherit it either.
func TestNewSpawnerMarksInheritedDescriptors(t *testing.T) {
	fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	newSpawner(t, Options{})
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("fd %d flags %#x, %v: no close-on-exec", fd, flags, err)
	}
}
