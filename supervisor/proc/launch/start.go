package launch

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// self is the running binary as the kernel knows it: the same file even
// if the path it was started from now holds another (an upgrade in place),
// so the launcher always speaks this daemon's version of the exchange. A
// variable only so that tests can put a misbehaving launcher in its place.
var self = "/proc/self/exe"

var launcherEnv = []string{"GOMAXPROCS=1", "GOGC=off"}

// Start runs the launcher with files as its descriptors 0, 1, 2, ... and
// sys for the fork (its process group; no Credential, the launcher applies
// c.Credential itself after the limits), hands it c, and returns once it
// has exec'd c.Path. The process returned is then the worker's program.
//
// A step that failed in the launcher comes back as an *Error, whose Unwrap
// is the errno; the launcher has then been reaped. Start blocks for the
// launcher's whole run, a millisecond or so: that is the price of the
// launcher, paid only by the workers that need it.
func Start(c *Config, files []*os.File, sys *syscall.SysProcAttr) (*os.Process, error) {
	if !wired.Load() {
		return nil, ErrNotWired
	}
	if sys != nil && sys.Credential != nil {
		return nil, errors.New("launch: the credential goes in the Config, not in SysProcAttr")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("launch: socketpair: %w", err)
	}
	ours, theirs := fds[0], os.NewFile(uintptr(fds[1]), "launch")
	p, err := os.StartProcess(self, []string{"tend", Arg, strconv.Itoa(len(files))}, &os.ProcAttr{
		// Not the daemon's (nil) nor the worker's: the worker's travels on
		// the socket, out of the loader's reach. Only what makes the
		// launcher's own runtime start sooner: one P and no cgroup reads
		// to size more, and no collection (about a fifth of its start).
		Env:   launcherEnv,
		Files: append(slices.Clip(files), theirs),
		Sys:   sys,
	})
	theirs.Close()
	if err != nil {
		unix.Close(ours)
		return nil, err
	}
	// A launcher that dies early makes this write fail; what it said, or
	// did not say, is read below either way.
	_ = sendAll(ours, c.encode())
	_ = unix.Shutdown(ours, unix.SHUT_WR)
	said, rerr := recvAll(ours)
	unix.Close(ours)
	// A launcher that failed before it read everything leaves an error on
	// the socket (ECONNRESET) after its report: the report comes first.
	// Without report and without the byte it writes before exec, it ended
	// early (killed, or its runtime failed), whatever the read says.
	lerr, reachedExec := result(said, c)
	switch {
	case lerr == nil && (!reachedExec || rerr != nil):
		lerr = &Error{Err: ErrDied}
	case lerr == nil:
		return p, nil
	}
	// The launcher is exiting, or stuck where it cannot go on: make sure,
	// then reap it, so that its end is never taken for the worker's.
	_ = p.Kill()
	if st, err := p.Wait(); err == nil && errors.Is(lerr, ErrDied) {
		lerr.(*Error).Err = fmt.Errorf("%w (%v)", ErrDied, st)
	}
	return nil, lerr
}

// sendAll writes b to the socket whole, without SIGPIPE.
func sendAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.SendmsgN(fd, b, nil, nil, unix.MSG_NOSIGNAL)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// recvAll reads until the launcher's end is closed: by its exec
// (close-on-exec) or by its exit.
func recvAll(fd int) ([]byte, error) {
	var out []byte
	var buf [64]byte
	for {
		n, err := unix.Read(fd, buf[:])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return out, err
		case n == 0:
			return out, nil
		}
		out = append(out, buf[:n]...)
		if len(out) > 1<<10 {
			return out, errMalformed
		}
	}
}
