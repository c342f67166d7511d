package proc

import (
	"os"
	"strconv"
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
	p := start(t, s, helperSpec(t, "forktable", "sleep", "60s"))
	if got := len(fdsOf(t, p.PID())); got != 3 {
		t.Errorf("the worker holds %d descriptors, want 3 (stdin, stdout, stderr)", got)
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

func fdsOf(t *testing.T, pid int) []string {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
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
