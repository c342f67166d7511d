package proc

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// exitWatch tells many processes' exits from one goroutine. A pidfd becomes
// readable when its process exits, so one epoll set over all of them
// replaces a goroutine blocked in waitid per worker, and with it an OS
// thread per worker: a thousand workers would otherwise cost a thousand
// threads and their stacks.
type exitWatch struct {
	epfd int
	wake int // eventfd: Close writes it to end the loop

	mu      sync.Mutex
	watched map[int32]*watched // by pidfd
	closed  bool
	done    chan struct{}
}

// watched is one process under watch: ch is closed on its exit, and each
// of after then runs on a goroutine of its own.
type watched struct {
	ch    chan struct{}
	after []func()
}

func (e *watched) fire() {
	close(e.ch)
	for _, f := range e.after {
		go f()
	}
}

func newExitWatch() (*exitWatch, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("proc: epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("proc: eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("proc: epoll add: %w", err)
	}
	w := &exitWatch{epfd: epfd, wake: wake, watched: make(map[int32]*watched), done: make(chan struct{})}
	go w.loop()
	return w, nil
}

// add watches the process behind pidfd. The descriptor stays the
// caller's: it is not duplicated, because every descriptor the daemon holds
// is copied by each later fork and closed again by each exec, and a
// thousand workers' worth of them made every spawn slower. The caller must
// not close it before the returned channel is closed (Process.Wait waits
// for the channel first).
func (w *exitWatch) add(pidfd uintptr) (<-chan struct{}, error) {
	fd := int(pidfd)
	ch := make(chan struct{})
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, ErrClosed
	}
	w.watched[int32(fd)] = &watched{ch: ch}
	if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		delete(w.watched, int32(fd))
		return nil, fmt.Errorf("proc: epoll add pidfd: %w", err)
	}
	return ch, nil
}

// after runs f on a goroutine of its own once the process behind pidfd has
// exited, so that waiting for an exit holds no goroutine, and no stack,
// until there is one. It reports false when the process is not watched
// (any more): it has exited already, or the watch is closed.
func (w *exitWatch) after(pidfd int32, f func()) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.watched[pidfd]
	if e == nil {
		return false
	}
	e.after = append(e.after, f)
	return true
}

func (w *exitWatch) loop() {
	defer close(w.done)
	evs := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(w.epfd, evs, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			w.failAll()
			return
		}
		for _, ev := range evs[:n] {
			if ev.Fd == int32(w.wake) {
				w.failAll()
				return
			}
			w.mu.Lock()
			e := w.watched[ev.Fd]
			delete(w.watched, ev.Fd)
			w.mu.Unlock()
			_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
			if e != nil {
				e.fire()
			}
		}
	}
}

// failAll ends the watch: waiters fall back to a blocking wait of their own.
func (w *exitWatch) failAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for fd, e := range w.watched {
		_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		e.fire()
	}
	w.watched = map[int32]*watched{}
}

func (w *exitWatch) close() {
	var one [8]byte
	one[7] = 1
	_, _ = unix.Write(w.wake, one[:])
	<-w.done
	unix.Close(w.epfd)
	unix.Close(w.wake)
}
