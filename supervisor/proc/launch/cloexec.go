package launch

import (
	"errors"
	"math"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noCloseRange is set once close_range has said the kernel lacks
// CLOSE_RANGE_CLOEXEC (before Linux 5.11), so later calls go straight to
// the walk of /proc/self/fd.
var noCloseRange atomic.Bool

// CloseOnExecFrom sets close-on-exec on every open descriptor numbered
// lowfd or higher, so that no later exec by this process or its children
// passes them on. Descriptors Go opens already carry the flag and are
// unchanged; what it catches are descriptors inherited from whoever
// started the process and those C code opened without O_CLOEXEC. A
// descriptor handed to a child on purpose (os.ProcAttr.Files,
// exec.Cmd.ExtraFiles) still reaches it: the child's copy is made by dup2
// in the child, which never copies the flag.
//
// It is one close_range(lowfd, ~0U, CLOSE_RANGE_CLOEXEC) call, which marks
// the whole range in the descriptor table's bitmap without looking at each
// descriptor. Kernels without it get a walk of /proc/self/fd instead.
func CloseOnExecFrom(lowfd int) error {
	if !noCloseRange.Load() {
		err := unix.CloseRange(uint(lowfd), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
			return err
		}
		noCloseRange.Store(true)
	}
	return cloexecWalk(lowfd)
}

// cloexecWalk is CloseOnExecFrom for kernels without close_range's
// CLOSE_RANGE_CLOEXEC. It uses raw system calls only, so that the
// launcher, which calls it before it execs, starts no poller.
func cloexecWalk(lowfd int) error {
	dir, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	buf := make([]byte, 4096)
	var names []string
	for {
		n, err := unix.ReadDirent(dir, buf)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd < lowfd || fd == dir {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return err
		}
	}
	return nil
}
