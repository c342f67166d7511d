package logfile

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNoLog says that a worker's output goes to something other than a file
// (/dev/null, the daemon's own stdout): there is nothing to read back.
var ErrNoLog = errors.New("output goes to a device or a pipe, not to a file")

// errNotRotated: a device or pipe root set up has nothing to rotate.
var errNotRotated = errors.New("not a regular file: not rotated")

// use is what a file is opened for; it decides what the file may be.
type use int

const (
	forAppend use = iota // a worker's output
	forRead              // reading it back
	forRotate            // rotating it
)

// OpenAppend opens a worker's output file for appending, for the worker to
// inherit. A missing file is created 0640 and missing directories 0750, as
// the daemon's user. uid is the worker's: besides root and the daemon, it
// may own the file. It must be a regular file with no other name, or a
// character device root owns (/dev/null), or a FIFO or socket root put in
// a directory only root can write (/dev/stdout). Errors are *os.PathError
// (the errno within) or *UnsafeError.
//
// On the spawn path this costs openat2, fstat and two fcntl when the path
// holds no symbolic link.
func OpenAppend(path string, uid uint32) (*os.File, error) {
	var st unix.Stat_t
	fd, err := open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT, fileMode, true, forAppend, uid, &st)
	if err != nil {
		return nil, err
	}
	return finish(fd, path, unix.O_APPEND)
}

// OpenRead opens a worker's output file for reading; see OpenAppend for
// uid. Only a regular file is opened; output that goes to a device or a
// pipe root set up is ErrNoLog (in an *os.PathError).
func OpenRead(path string, uid uint32) (*os.File, error) {
	f, _, err := openRead(path, uid)
	return f, err
}

func openRead(path string, uid uint32) (*os.File, *unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := open(path, unix.O_RDONLY, 0, false, forRead, uid, &st)
	if err != nil {
		return nil, nil, err
	}
	f, err := finish(fd, path, 0)
	return f, &st, err
}

// open opens path and judges what it opened (check); st receives its
// status. The one-call open knows nothing of the directories on the way,
// so a file that is not regular is opened again by the walk, which tells
// whether only root could have put it there.
func open(path string, flags int, mode uint32, mkdirs bool, u use, uid uint32, st *unix.Stat_t) (int, error) {
	fd, err := openFast(path, flags, mode, mkdirs)
	switch {
	case err == nil:
		special, err := check(fd, path, uid, u, false, st)
		if err == nil {
			return fd, nil
		}
		unix.Close(fd)
		if !special {
			return -1, err
		}
	case errors.Is(err, unix.ENXIO): // a FIFO without a reader, or a socket: whose?
	case err != errSlow:
		return -1, err
	}
	p, err := walk(path, mkdirs)
	if err != nil {
		return -1, err
	}
	defer p.close()
	fd, err = p.open(path, flags, mode)
	if errors.Is(err, unix.ENXIO) {
		// O_NONBLOCK made the open of a FIFO without a reader (or of a
		// socket) fail rather than wait.
		if p.trusted {
			return -1, fmt.Errorf("%w (a FIFO no one reads, or a socket)", err)
		}
		return -1, &UnsafeError{Path: path, Reason: "is a FIFO or a socket, not a regular file"}
	}
	if err != nil {
		return -1, err
	}
	if _, err := check(fd, path, uid, u, p.trusted, st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// finish makes fd an *os.File in blocking mode (flags are the F_SETFL
// flags to keep): the O_NONBLOCK that kept a FIFO from blocking the open
// would reach the worker.
func finish(fd int, path string, flags int) (*os.File, error) {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// check refuses what a worker could have put at a name for the daemon to
// write, read or rotate: a file with another name elsewhere (a hard link
// to a file the worker may not touch), a file another user owns, and
// anything but a regular file, unless root put it there: a character
// device root owns, or anything at all in a directory only root can write
// (trusted). Only a regular file is read or rotated; reading anything else
// root set up is ErrNoLog. special says the refusal might be lifted by
// knowing the directory is trusted.
func check(fd int, path string, uid uint32, u use, trusted bool, st *unix.Stat_t) (special bool, err error) {
	if err := unix.Fstat(fd, st); err != nil {
		return false, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	t := st.Mode & unix.S_IFMT
	switch {
	case t == unix.S_IFREG:
		if st.Nlink > 1 {
			return false, &UnsafeError{Path: path, Reason: fmt.Sprintf("has %d hard links; a file with other names is neither written nor read", st.Nlink)}
		}
		if st.Uid != 0 && st.Uid != uid && st.Uid != uint32(os.Geteuid()) {
			return false, &UnsafeError{Path: path, Reason: fmt.Sprintf("is owned by uid %d, neither root nor the worker (uid %d)", st.Uid, uid)}
		}
		return false, nil
	case trusted || t == unix.S_IFCHR && st.Uid == 0:
		switch u {
		case forAppend:
			return false, nil
		case forRead:
			return false, &os.PathError{Op: "open", Path: path, Err: ErrNoLog}
		}
		return false, errNotRotated
	}
	return true, &UnsafeError{Path: path, Reason: "is a " + kind(st.Mode) + ", not a regular file"}
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
