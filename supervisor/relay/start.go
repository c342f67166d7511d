package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/supervisor/children"
	"github.com/tendhq/tend/supervisor/proc"
	"github.com/tendhq/tend/supervisor/proc/launch"
)

// ReadyTimeout bounds how long Start waits for the relay to hold its pipes.
const ReadyTimeout = 2 * time.Second

// Handle is the daemon's hold on one relay: one it started, or one a
// previous daemon started and this one adopted.
type Handle struct {
	p    *os.Process // pidfd-backed
	id   proc.Identity
	done chan struct{}
}

// Identity is the relay's pid, start time and boot.
func (h *Handle) Identity() proc.Identity { return h.id }

// Done is closed once the relay has exited (and, when it is the daemon's
// child, been reaped).
func (h *Handle) Done() <-chan struct{} { return h.done }

// Finish waits up to d for the relay to write what is left and exit, then
// kills it: something that outlived its incarnation (a process that
// escaped the group and the stop) may still hold the pipe, and the next
// incarnation's relay must not write the same files beside it. It reports
// whether the relay ended on its own.
func (h *Handle) Finish(d time.Duration) bool {
	select {
	case <-h.done:
		return true
	case <-time.After(d):
	}
	_ = h.p.Kill()
	<-h.done
	return false
}

// Start starts a relay for c with the pipes' read ends, one per path in
// c.Paths, as its descriptors 3, 4, ... It inherits nothing else: stdin,
// stdout and stderr are /dev/null, its environment is empty, and it leads
// a process group of its own. The caller closes its copies of the read
// ends once Start returns.
func Start(c Config, reads []*os.File) (*Handle, error) {
	if len(reads) != len(c.Paths) || len(reads) == 0 {
		return nil, errors.New("relay: one pipe per path")
	}
	arg, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	if err := launch.CloseOnExecFrom(3); err != nil {
		return nil, fmt.Errorf("relay: set close-on-exec on inherited descriptors: %w", err)
	}
	rr, rw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("relay: ready pipe: %w", err)
	}
	defer rr.Close()
	files := append(append([]*os.File{null, null, null}, reads...), rw)
	// /proc/self/exe: this very binary, even when a newer one has been
	// installed at its path since the daemon started.
	// The relay leads a process group of its own, as an orphan of a
	// worker's may: the record tells the daemon's orphan reaper that its
	// exit status is the Handle's.
	var p *os.Process
	_, err = children.Start(func() (int, error) {
		var err error
		p, err = os.StartProcess("/proc/self/exe", []string{"tend-relay", Arg, string(arg)}, &os.ProcAttr{
			Env: []string{}, Files: files, Sys: &syscall.SysProcAttr{Setpgid: true},
		})
		if err != nil {
			return 0, err
		}
		return p.Pid, nil
	})
	rw.Close()
	if err != nil {
		return nil, fmt.Errorf("relay: start for %q: %w", c.Worker, err)
	}
	// The worker starts once the relay reads its pipes, so each line is
	// stamped when it is written, not when a late relay got to it. A relay
	// that dies first closes the pipe; one that hangs is not waited for
	// past ReadyTimeout (its lines are stamped late, none is lost).
	_ = rr.SetReadDeadline(time.Now().Add(ReadyTimeout))
	_, _ = rr.Read(make([]byte, 1))
	// Unreaped, its stat stays readable even if it has exited already.
	id, err := proc.IdentityOf(p.Pid)
	if err != nil {
		_ = p.Kill()
		_, _ = p.Wait()
		children.Done(p.Pid)
		return nil, fmt.Errorf("relay: identity: %w", err)
	}
	h := &Handle{p: p, id: id, done: make(chan struct{})}
	go func() {
		_, _ = p.Wait()
		children.Done(p.Pid)
		close(h.done)
	}()
	return h, nil
}

// Adopt takes over a relay a previous daemon started, known by the
// identity the log recorded: pinned by a pidfd and checked again after
// pinning, so a pid reused meanwhile is refused (proc.ErrNotSame).
func Adopt(id proc.Identity) (*Handle, error) {
	if !proc.Same(id.PID, id.StartTicks, id.BootID) {
		return nil, fmt.Errorf("relay: adopt pid %d: %w", id.PID, proc.ErrNotSame)
	}
	p, err := os.FindProcess(id.PID)
	if err != nil {
		return nil, fmt.Errorf("relay: adopt pid %d: %w", id.PID, err)
	}
	if !proc.Same(id.PID, id.StartTicks, id.BootID) {
		p.Release()
		return nil, fmt.Errorf("relay: adopt pid %d: %w", id.PID, proc.ErrNotSame)
	}
	h := &Handle{p: p, id: id, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		// Not our child: the pidfd turns readable when it exits, and its
		// parent (init, or a subreaper) reaps it.
		_ = p.WithHandle(func(fd uintptr) {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); err == nil || !errors.Is(err, unix.EINTR) {
					return
				}
			}
		})
	}()
	return h, nil
}
