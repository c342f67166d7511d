package proc

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// forkThreads are OS threads set aside to fork workers that need
// no_new_privs or a umask of their own. A child starts as a copy of the
// thread that forks it, and both are per-thread state that survives exec:
// no_new_privs is a flag of the thread, and a thread that has unshared its
// filesystem context (CLONE_FS) has a umask of its own. So a fork from such
// a thread gives the worker what it asks for at the cost of a plain spawn,
// where the launcher costs an exec of the daemon's binary; only resource
// limits, which belong to the whole process, still need the launcher.
//
// Every worker is forked from one of them, also one that needs neither,
// because each has a descriptor table of its own (CLONE_FILES unshared)
// that holds nothing but what the fork at hand passes: a fork copies the
// forking thread's table, taking a reference on every open file in it,
// and the exec closes every copy again, so a fork from the daemon's own
// table, which holds a pidfd per live worker, costs time in proportion to
// the workers already running. At 5,000 workers that was a tenth of the
// daemon's CPU in a cold start and more than that again in the children;
// from a thread of its own a fork costs the same at any number of workers.
// A fork thread takes what the child inherits from the daemon's table
// with pidfd_getfd and closes it once the child has its own; the child's
// pidfd is opened in the daemon's table afterwards (os.FindProcess), from
// the pid of a child nobody else may reap.
//
// The threads never run anything else: their goroutines stay locked to
// them and never unlock, so when one ends the thread ends with it, and the
// Go runtime never clones a new thread from a locked one. The daemon's
// other threads keep the daemon's umask, no no_new_privs, and its table.
type forkThreads struct {
	// mu guards idle and closed.
	mu     sync.Mutex
	idle   [2][]*forkThread // by no_new_privs; as many as ever forked at once
	closed bool
	// shared is set once a thread could not have a table of its own (no
	// pidfd_getfd: before Linux 5.6, or refused by a seccomp filter):
	// every thread made after shares the daemon's.
	shared atomic.Bool
}

type forkThread struct {
	run chan func(*forkThread)
	// own is the thread's pidfd of the daemon, through which it takes
	// descriptors from the daemon's table into its own; -1 when the
	// thread shares the daemon's table.
	own int
}

// fork runs start on a thread with no_new_privs set or not, and with
// umask (when not nil) as its umask for the duration. start is told the
// thread's own pidfd of the daemon, or -1 when the thread shares the
// daemon's descriptor table (see forkOwn).
func (ts *forkThreads) fork(nnp bool, umask *uint32, start func(own int)) error {
	t, err := ts.get(nnp)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	t.run <- func(t *forkThread) {
		defer close(done)
		if umask == nil {
			start(t.own)
			return
		}
		// The thread's own umask: nobody else sees it change.
		old := syscall.Umask(int(*umask))
		start(t.own)
		syscall.Umask(old)
	}
	<-done
	ts.put(nnp, t)
	return nil
}

func (ts *forkThreads) get(nnp bool) (*forkThread, error) {
	i := b2i(nnp)
	ts.mu.Lock()
	if ts.closed {
		ts.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(ts.idle[i]); n > 0 {
		t := ts.idle[i][n-1]
		ts.idle[i] = ts.idle[i][:n-1]
		ts.mu.Unlock()
		return t, nil
	}
	ts.mu.Unlock()
	t, err := newForkThread(nnp, !ts.shared.Load())
	if errors.Is(err, errNoOwnTable) {
		ts.shared.Store(true)
		t, err = newForkThread(nnp, false)
	}
	return t, err
}

func (ts *forkThreads) put(nnp bool, t *forkThread) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		close(t.run)
		return
	}
	ts.idle[b2i(nnp)] = append(ts.idle[b2i(nnp)], t)
}

// close ends the idle threads, and the busy ones once they are done.
func (ts *forkThreads) close() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.closed = true
	for i := range ts.idle {
		for _, t := range ts.idle[i] {
			close(t.run)
		}
		ts.idle[i] = nil
	}
}

// errNoOwnTable: the kernel would not let a fork thread take descriptors
// from the daemon's table into a table of its own.
var errNoOwnTable = errors.New("proc: a fork thread cannot have a descriptor table of its own")

func newForkThread(nnp, own bool) (*forkThread, error) {
	t := &forkThread{run: make(chan func(*forkThread)), own: -1}
	self := -1
	if own {
		// Opened here, in the daemon's table: the thread finds its copy
		// in its own table once it unshared it, and checks through it
		// that it can take descriptors from this one.
		var err error
		if self, err = unix.PidfdOpen(os.Getpid(), 0); err != nil {
			return nil, fmt.Errorf("%w: pidfd_open: %w", errNoOwnTable, err)
		}
		defer unix.Close(self)
	}
	ready := make(chan error, 1)
	go t.serve(nnp, self, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return t, nil
}

// serve locks its goroutine to a thread other than the main one, sets
// that thread up and runs what fork hands it. The main thread is left
// alone because /proc/PID/status shows its no_new_privs and umask as the
// whole daemon's.
func (t *forkThread) serve(nnp bool, self int, ready chan<- error) {
	// Never unlocked once set up: the thread's state must not outlive
	// this goroutine on a thread the runtime would reuse.
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// Hold the main thread while another goroutine locks a thread of
		// its own (it cannot get this one), then give it back untouched.
		moved := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(moved)
			t.serveLocked(nnp, self, ready)
		}()
		<-moved
		runtime.UnlockOSThread()
		return
	}
	t.serveLocked(nnp, self, ready)
}

func (t *forkThread) serveLocked(nnp bool, self int, ready chan<- error) {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		ready <- fmt.Errorf("proc: unshare the fork thread's filesystem context: %w", err)
		return
	}
	if nnp {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			ready <- fmt.Errorf("proc: set no_new_privs on the fork thread: %w", err)
			return
		}
	}
	if self >= 0 {
		if err := t.ownTable(self); err != nil {
			// The thread may have a table of its own already: it ends
			// with its goroutine, still locked.
			ready <- err
			return
		}
	}
	ready <- nil
	for f := range t.run {
		f(t)
	}
}

// ownTable gives the thread a descriptor table of its own, which keeps
// only what the Go runtime may use on any thread (its epoll and eventfd
// descriptors, which are never closed), each with close-on-exec. self is
// a pidfd of the daemon in the daemon's table, copied into the thread's.
func (t *forkThread) ownTable(self int) error {
	if err := unix.Unshare(unix.CLONE_FILES); err != nil {
		return fmt.Errorf("%w: unshare: %w", errNoOwnTable, err)
	}
	fd, err := unix.PidfdGetfd(self, self, 0)
	if err != nil {
		return fmt.Errorf("%w: pidfd_getfd: %w", errNoOwnTable, err)
	}
	unix.Close(fd)
	// From here a failure leaves the thread unusable, not the daemon:
	// errNoOwnTable makes the next threads share the daemon's table.
	ents, err := os.ReadDir("/proc/thread-self/fd")
	if err != nil {
		return fmt.Errorf("%w: %w", errNoOwnTable, err)
	}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n <= 2 || n == self {
			continue
		}
		// Errors mean the descriptor was the directory's own, closed.
		if l, err := os.Readlink("/proc/thread-self/fd/" + e.Name()); err == nil &&
			strings.HasPrefix(l, "anon_inode:") && l != "anon_inode:[pidfd]" {
			continue
		}
		unix.Close(n)
	}
	// Nothing kept reaches a worker by accident.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		// CLOSE_RANGE_CLOEXEC came in Linux 5.11, pidfd_getfd in 5.6.
		return fmt.Errorf("%w: close_range: %w", errNoOwnTable, err)
	}
	t.own = self
	return nil
}

// forkOwn forks and execs the program from a fork thread with a table of
// its own (own is its pidfd of the daemon) and returns the child's pid.
// fds are the child's descriptors 0, 1, 2, ... as numbers in the daemon's
// table (-1: closed), and sys.CgroupFD too: each is taken into the
// thread's table for the fork and closed there after. Nothing here may
// touch a descriptor of the daemon's table by number: on this thread the
// number names another file, or none.
func forkOwn(own int, path string, argv, env []string, dir string, fds []int, sys *syscall.SysProcAttr) (int, error) {
	var taken []int
	defer func() {
		for _, fd := range taken {
			unix.Close(fd)
		}
	}()
	mine := make(map[int]int, len(fds))
	take := func(fd int) (int, error) {
		if n, ok := mine[fd]; ok {
			return n, nil
		}
		n, err := unix.PidfdGetfd(own, fd, 0)
		if err != nil {
			return -1, fmt.Errorf("take descriptor %d for the child: %w", fd, err)
		}
		taken = append(taken, n)
		mine[fd] = n
		return n, nil
	}
	files := make([]uintptr, len(fds))
	for i, fd := range fds {
		if fd < 0 {
			files[i] = ^uintptr(0)
			continue
		}
		n, err := take(fd)
		if err != nil {
			return 0, err
		}
		files[i] = uintptr(n)
	}
	if sys.UseCgroupFD {
		n, err := take(sys.CgroupFD)
		if err != nil {
			return 0, err
		}
		sys.CgroupFD = n
	}
	return syscall.ForkExec(path, argv, &syscall.ProcAttr{Dir: dir, Env: env, Files: files, Sys: sys})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
