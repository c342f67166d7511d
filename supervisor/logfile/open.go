package logfile

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenAppend opens a worker's output file for appending, for the worker to
// inherit. A missing file is created 0640 and missing directories 0750, as
// the daemon's user. uid is the worker's: besides root and the daemon, it
// may own the file. Errors are *os.PathError (the errno within) or
// *UnsafeError.
//
// On the spawn path this costs openat2, fstat and two fcntl when the path
// holds no symbolic link.
func OpenAppend(path string, uid uint32) (*os.File, error) {
	fd, err := openPath(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT, fileMode, true)
	if errors.Is(err, unix.ENXIO) {
		// O_NONBLOCK made the open of a FIFO without a reader (or of a
		// socket) fail rather than wait.
		return nil, &UnsafeError{Path: path, Reason: "is a FIFO or a socket, not a regular file"}
	}
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	return finish(fd, path, uid, true, unix.O_APPEND, &st)
}

// ErrNoLog says that a worker's output goes to a character device root
// owns (such as /dev/null): there is nothing to read back.
var ErrNoLog = errors.New("output goes to a device, not to a file")

// OpenRead opens a worker's output file for reading; see OpenAppend for
// uid. Only a regular file is opened; a character device root owns is
// ErrNoLog (in an *os.PathError).
func OpenRead(path string, uid uint32) (*os.File, error) {
	f, _, err := openRead(path, uid)
	return f, err
}

func openRead(path string, uid uint32) (*os.File, *unix.Stat_t, error) {
	fd, err := openPath(path, unix.O_RDONLY, 0, false)
	if err != nil {
		return nil, nil, err
	}
	var st unix.Stat_t
	f, err := finish(fd, path, uid, false, 0, &st)
	return f, &st, err
}

// finish judges the file open as fd and makes it an *os.File in blocking
// mode (flags are the F_SETFL flags to keep): the O_NONBLOCK that kept a
// FIFO from blocking the open would reach the worker. st receives the
// file's status.
func finish(fd int, path string, uid uint32, devices bool, flags int, st *unix.Stat_t) (*os.File, error) {
	if err := check(fd, path, uid, devices, st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// check refuses what a worker could have put at a name for the daemon to
// write or read: anything but a regular file (a character device root owns
// when devices), a file with another name elsewhere (a hard link to a file
// the worker may not touch), and a file owned by another user.
func check(fd int, path string, uid uint32, devices bool, st *unix.Stat_t) error {
	if err := unix.Fstat(fd, st); err != nil {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if st.Nlink > 1 {
			return &UnsafeError{Path: path, Reason: fmt.Sprintf("has %d hard links; a file with other names is neither written nor read", st.Nlink)}
		}
		if st.Uid != 0 && st.Uid != uid && st.Uid != uint32(os.Geteuid()) {
			return &UnsafeError{Path: path, Reason: fmt.Sprintf("is owned by uid %d, neither root nor the worker (uid %d)", st.Uid, uid)}
		}
		return nil
	case unix.S_IFCHR:
		if st.Uid == 0 {
			if devices {
				return nil
			}
			return &os.PathError{Op: "open", Path: path, Err: ErrNoLog}
		}
	}
	return &UnsafeError{Path: path, Reason: "is a " + kind(st.Mode) + ", not a regular file"}
}

func kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFLNK:
		return "symbolic link"
	}
	return "special file"
}
