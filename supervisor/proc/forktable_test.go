package proc

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// holdOpen opens n more descriptors in the test process, as a daemon holds
// a pidfd per live worker, and closes them when the test ends.
func holdOpen(t testing.TB, n int) {
	t.Helper()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	fds := make([]int, 0, n)
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	for range n {
		fd, err := unix.FcntlInt(null.Fd(), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			t.Skipf("cannot hold %d descriptors open: %v", n, err)
		}
		fds = append(fds, fd)
	}
}

// listOwnFDs is a shell that lists its own descriptor table, one number a
// line, then says ready. ls runs as a plain command: in a pipeline the
// shell holds the pipe's ends while ls reads its table, and a loaded
// machine lets ls see them.
const listOwnFDs = `ls /proc/$$/fd; echo ready; exec sleep 60`

// countFDs is how many descriptors the table of thread tid holds.
func countFDs(t *testing.T, tid string) int {
	ents, err := os.ReadDir("/proc/self/task/" + tid + "/fd")
	if err != nil {
		return -1 // the thread ended
	}
	return len(ents)
}

// A fork copies the forking thread's descriptor table, a reference on
// every open file, and the exec closes every copy: from the daemon's own
// table, which holds a pidfd per live worker, each spawn cost time in
// proportion to the workers already running. Spawns are forked from a
// thread whose table holds only what the child gets.
func TestForkFromOwnTable(t *testing.T) {
	const held = 2000
	holdOpen(t, held)
	s := newSpawner(t, Options{})
	// The shell lists its own table as it was given (a Go program's
	// runtime opens files of its own, a cgroup's CPU limits for one).
	spec := helperSpec(t, "forktable", "hang")
	spec.Command = []string{"sh", "-c", listOwnFDs}
	p := start(t, s, spec)
	if got := strings.Join(waitReady(t, p, spec.Stdout), " "); got != "0 1 2" {
		t.Errorf("the worker was given descriptors %q, want 0, 1 and 2 only", got)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	least := -1
	for _, task := range tasks {
		if n := countFDs(t, task.Name()); n >= 0 && (least < 0 || n < least) {
			least = n
		}
	}
	// The fork thread keeps its table after the spawn: at most the Go
	// runtime's own descriptors (epoll, eventfd), its pidfd of the
	// process and stdin, stdout and stderr.
	if least < 0 || least > 16 {
		t.Errorf("the smallest descriptor table of any thread holds %d descriptors with %d held open by the process: "+
			"no spawn was forked from a table of its own", least, held)
	}
}

// BenchmarkStartWaitManyOpen is BenchmarkStartWait with 15,000 descriptors
// open in the process, as a daemon with 15,000 live workers holds their
// pidfds: a spawn should cost the same. The spawner forks once before they
// are opened, as a daemon does long before it has that many workers.
func BenchmarkStartWaitManyOpen(b *testing.B) {
	spec := Spec{Worker: "bench", Command: []string{"/bin/true"}}
	benchStartWaitAfter(b, spec, func(s *Spawner) {
		p, err := s.Start(spec)
		if err != nil {
			b.Fatal(err)
		}
		p.Wait()
		holdOpen(b, 15000)
	})
}

// Whichever table a fork thread has, its own or (where the kernel cannot
// give it one) the daemon's, a worker is given exactly 0, 1 and 2: not a
// descriptor the daemon holds without close-on-exec, as one it inherited
// from whoever started it does.
func TestForkInheritsNothingFromEitherTable(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for _, shared := range []bool{false, true} {
		s := newSpawner(t, Options{})
		s.threads.shared.Store(shared)
		// Opened after the Spawner started, as C code in another thread
		// may: no close-on-exec.
		leak, err := unix.Dup(int(null.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(leak)
		spec := helperSpec(t, "inherit", "hang")
		spec.Worker = fmt.Sprintf("inherit-shared-%v", shared)
		spec.Command = []string{"sh", "-c", listOwnFDs}
		p := start(t, s, spec)
		if got := strings.Join(waitReady(t, p, spec.Stdout), " "); got != "0 1 2" {
			t.Errorf("shared table %v: the worker was given descriptors %q, want 0, 1 and 2 only", shared, got)
		}
		if own := s.threads.idle[0][0].own; (own >= 0) == shared {
			t.Errorf("shared table %v: the fork thread's own pidfd is %d", shared, own)
		}
	}
}
