package launch

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Arg marks an invocation of the binary as the launcher. Its argv is
// {"tend", Arg, FD}, FD being the launcher's end of the socket.
const Arg = "tend-launch"

// wired records that Main ran in this binary, so that exec'ing it as the
// launcher reaches Main again.
var wired atomic.Bool

// Main turns the process into the launcher when it was started as one,
// and never returns then: it execs the worker's program or exits with
// ExitFailed. Otherwise it returns at once. Call it first thing in main,
// before anything opens descriptors or starts goroutines.
func Main() {
	wired.Store(true)
	if len(os.Args) != 3 || os.Args[1] != Arg {
		return
	}
	os.Exit(run(os.Args[2]))
}

// run is the launcher. It returns only an exit status: on success it does
// not return at all.
func run(fdArg string) int {
	// The credentials and no_new_privs are set on this thread only, and
	// the exec that makes them the program's must come from it.
	runtime.LockOSThread()
	// Nothing the launcher allocates needs collecting before exec (the
	// daemon also starts it with GOGC=off; this holds when it does not).
	debug.SetGCPercent(-1)

	fd, err := strconv.Atoi(fdArg)
	if err != nil || fd < 3 {
		fmt.Fprintf(os.Stderr, "%s: tend's launcher stage, started by the daemon only\n", Arg)
		return 2
	}
	fail := func(op byte, err error, arg uint32) int {
		errno := syscall.EINVAL
		errors.As(err, &errno)
		send(fd, failure(op, errno, arg))
		return ExitFailed
	}
	data, err := readAll(fd)
	if err != nil {
		return fail(opConfig, err, 0)
	}
	c, err := decode(data)
	if err != nil {
		return fail(opConfig, err, 0)
	}
	// Our end of the socket gets the flag too: exec closes it, and the
	// daemon's read ends there.
	if err := CloseOnExecFrom(3); err != nil {
		return fail(opCloexec, err, 0)
	}
	for _, k := range c.Keep {
		if k < 3 || k == fd {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(k), unix.F_SETFD, 0); err != nil {
			return fail(opCloexec, err, uint32(k))
		}
	}
	var dir *byte
	if c.Dir != "" {
		if dir, err = syscall.BytePtrFromString(c.Dir); err != nil {
			return fail(opChdir, err, 0)
		}
	}
	if c.Umask >= 0 {
		syscall.Umask(c.Umask)
	}
	for _, r := range c.Rlimits {
		// syscall.Setrlimit rather than a raw call: for NOFILE it also
		// stops syscall.Exec from restoring the soft limit the Go runtime
		// raised at start. Without a nofile setting that restore gives
		// the program the limit a direct spawn would.
		if err := syscall.Setrlimit(r.Resource, &syscall.Rlimit{Cur: r.Cur, Max: r.Max}); err != nil {
			return fail(opRlimit, err, uint32(r.Resource))
		}
	}
	if cr := c.Credential; cr != nil {
		if op, errno := setCredential(cr); errno != 0 {
			return fail(op, errno, 0)
		}
	}
	// Raw calls from here on: this thread, now the worker's user, stays
	// out of the scheduler until its exec.
	if dir != nil {
		if _, _, e := syscall.RawSyscall(syscall.SYS_CHDIR, uintptr(unsafe.Pointer(dir)), 0, 0); e != 0 {
			return fail(opChdir, e, 0)
		}
	}
	if c.NoNewPrivs {
		if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
			return fail(opNoNewPrivs, e, 0)
		}
	}
	send(fd, []byte{execing})
	err = syscall.Exec(c.Path, c.Argv, c.Env)
	return fail(opExec, err, 0)
}

// setCredential switches this thread to the worker's groups, gid and
// uid, in that order (groups and gid need the root uid still). Go's own
// fork does the same in its child, where there is one thread.
func setCredential(cr *syscall.Credential) (byte, syscall.Errno) {
	if !cr.NoSetGroups {
		var p unsafe.Pointer
		if len(cr.Groups) > 0 {
			p = unsafe.Pointer(&cr.Groups[0])
		}
		if _, _, e := syscall.RawSyscall(sysSetgroups, uintptr(len(cr.Groups)), uintptr(p), 0); e != 0 {
			return opSetgroups, e
		}
	}
	g, u := uintptr(cr.Gid), uintptr(cr.Uid)
	if _, _, e := syscall.RawSyscall(sysSetresgid, g, g, g); e != 0 {
		return opSetgid, e
	}
	if _, _, e := syscall.RawSyscall(sysSetresuid, u, u, u); e != 0 {
		return opSetuid, e
	}
	return 0, 0
}

// readAll reads the configuration until the daemon shuts its side down.
func readAll(fd int) ([]byte, error) {
	buf := make([]byte, 0, 16<<10)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxConfig {
				return nil, syscall.E2BIG
			}
			buf = append(buf, make([]byte, len(buf))...)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, err
		case n == 0:
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// send writes b with a raw system call, and MSG_NOSIGNAL: a daemon that
// died meanwhile must not end the launcher by SIGPIPE. There is nobody to
// tell about a failed write.
func send(fd int, b []byte) {
	for len(b) > 0 {
		n, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_NOSIGNAL, 0, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0:
			return
		}
		b = b[n:]
	}
}
