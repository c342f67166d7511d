package proc

import (
	"fmt"
	"runtime"
	"sync"
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
// The threads never run anything else: their goroutines stay locked to
// them and never unlock, so when one ends the thread ends with it, and the
// Go runtime never clones a new thread from a locked one. The daemon's
// other threads keep the daemon's umask and no no_new_privs.
type forkThreads struct {
	// mu guards idle and closed.
	mu     sync.Mutex
	idle   [2][]*forkThread // by no_new_privs; as many as ever forked at once
	closed bool
}

type forkThread struct {
	run chan func()
}

// fork runs start on a thread with no_new_privs set or not, and with
// umask (when not nil) as its umask for the duration.
func (ts *forkThreads) fork(nnp bool, umask *uint32, start func()) error {
	t, err := ts.get(nnp)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	t.run <- func() {
		defer close(done)
		if umask == nil {
			start()
			return
		}
		// The thread's own umask: nobody else sees it change.
		old := syscall.Umask(int(*umask))
		start()
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
	return newForkThread(nnp)
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

func newForkThread(nnp bool) (*forkThread, error) {
	t := &forkThread{run: make(chan func())}
	ready := make(chan error, 1)
	go t.serve(nnp, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return t, nil
}

// serve locks its goroutine to a thread other than the main one, sets
// that thread up and runs what fork hands it. The main thread is left
// alone because /proc/PID/status shows its no_new_privs and umask as the
// whole daemon's.
func (t *forkThread) serve(nnp bool, ready chan<- error) {
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
			t.serveLocked(nnp, ready)
		}()
		<-moved
		runtime.UnlockOSThread()
		return
	}
	t.serveLocked(nnp, ready)
}

func (t *forkThread) serveLocked(nnp bool, ready chan<- error) {
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
	ready <- nil
	for f := range t.run {
		f()
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
