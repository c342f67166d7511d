package logfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

const (
	// safeFlags go with every open of a name a worker may have written: a
	// link there is not followed and a FIFO does not block the open.
	safeFlags = unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK
	maxLinks  = 40 // the kernel's MAXSYMLINKS
	dirMode   = 0o750
	fileMode  = 0o640
)

// ErrUnsafe is wrapped by every refusal to follow a link or to open a file
// that a user other than root could have put in the daemon's way.
var ErrUnsafe = errors.New("unsafe")

// UnsafeError names what was refused and why.
type UnsafeError struct {
	Path   string
	Reason string
}

func (e *UnsafeError) Error() string { return e.Path + " " + e.Reason }
func (e *UnsafeError) Unwrap() error { return ErrUnsafe }

// noOpenat2 is set once the kernel says it has no openat2 (before 5.6):
// every open then takes the walk.
var noOpenat2 atomic.Bool

// openPath opens path with flags|safeFlags. A path with no symbolic link
// in it is opened by one openat2; one with a link, or with a directory
// to make (mkdirs), is walked.
func openPath(path string, flags int, mode uint32, mkdirs bool) (int, error) {
	if !noOpenat2.Load() {
		how := unix.OpenHow{Flags: uint64(flags | safeFlags), Mode: uint64(mode), Resolve: unix.RESOLVE_NO_SYMLINKS}
		for {
			fd, err := unix.Openat2(unix.AT_FDCWD, path, &how)
			switch {
			case err == nil:
				return fd, nil
			case err == unix.EINTR:
				continue
			case err == unix.ENOSYS:
				noOpenat2.Store(true)
			case err == unix.ELOOP: // a link on the way: the walk judges it
			case err == unix.ENOENT && mkdirs: // a directory to make
			default:
				return -1, &os.PathError{Op: "open", Path: path, Err: err}
			}
			break
		}
	}
	dir, name, err := walk(path, mkdirs)
	if err != nil {
		return -1, err
	}
	defer unix.Close(dir)
	return openIn(dir, name, path, flags, mode)
}

// openIn opens name in the directory dir without following a link there.
// display is the path for messages.
func openIn(dir int, name, display string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat(dir, name, flags|safeFlags, mode)
		switch {
		case err == nil:
			return fd, nil
		case err == unix.EINTR:
			continue
		case err == unix.ELOOP:
			return -1, &UnsafeError{Path: display, Reason: "is a symbolic link (not followed)"}
		}
		return -1, &os.PathError{Op: "open", Path: display, Err: err}
	}
}

// walk resolves path one component at a time through O_PATH descriptors,
// and returns the directory that holds the last component, open, and the
// last component's name (which may not exist). A symbolic link is followed
// only in a directory where only root could have made it (trustsLinks),
// the last component included; any other link is an *UnsafeError. mkdirs
// makes missing directories 0750.
func walk(path string, mkdirs bool) (int, string, error) {
	var w walker
	defer w.closeAll()
	if err := w.reset(filepath.IsAbs(path)); err != nil {
		return -1, "", err
	}
	comps := strings.Split(path, "/")
	links := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		last := len(comps) == 0
		switch {
		case last && (c == "" || c == "." || c == ".."):
			return -1, "", &os.PathError{Op: "open", Path: path, Err: unix.EISDIR}
		case c == "" || c == ".":
			continue
		case c == "..":
			if err := w.up(); err != nil {
				return -1, "", err
			}
			continue
		}
		fd, err := w.lookup(c, last, mkdirs)
		if err != nil {
			return -1, "", err
		}
		if fd < 0 { // the last component does not exist
			return w.take(), c, nil
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, "", &os.PathError{Op: "stat", Path: w.join(c), Err: err}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			target, err := w.follow(fd, c, &st)
			unix.Close(fd)
			if err != nil {
				return -1, "", err
			}
			if links++; links > maxLinks {
				return -1, "", &os.PathError{Op: "open", Path: path, Err: unix.ELOOP}
			}
			if filepath.IsAbs(target) {
				if err := w.reset(true); err != nil {
					return -1, "", err
				}
			}
			comps = append(strings.Split(target, "/"), comps...)
		case unix.S_IFDIR:
			if last {
				unix.Close(fd)
				return w.take(), c, nil
			}
			w.push(fd, c)
		default:
			unix.Close(fd)
			if last {
				return w.take(), c, nil
			}
			return -1, "", &os.PathError{Op: "open", Path: w.join(c), Err: unix.ENOTDIR}
		}
	}
	return -1, "", &os.PathError{Op: "open", Path: path, Err: unix.EISDIR}
}

// walker holds the directories walked so far, outermost first, each open
// O_PATH; ".." goes back to the one before, as the path was written, not
// to wherever the current directory's parent is now.
type walker struct {
	fds   []int
	names []string
}

func (w *walker) closeAll() {
	for _, fd := range w.fds {
		unix.Close(fd)
	}
	w.fds, w.names = w.fds[:0], w.names[:0]
}

func (w *walker) reset(abs bool) error {
	w.closeAll()
	start := "."
	if abs {
		start = "/"
	}
	fd, err := unix.Open(start, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: start, Err: err}
	}
	w.fds, w.names = append(w.fds, fd), append(w.names, start)
	return nil
}

func (w *walker) top() int { return w.fds[len(w.fds)-1] }

func (w *walker) join(name string) string { return filepath.Join(w.names[len(w.names)-1], name) }

func (w *walker) push(fd int, name string) {
	w.names = append(w.names, w.join(name))
	w.fds = append(w.fds, fd)
}

// take hands the current directory to the caller, who closes it.
func (w *walker) take() int {
	fd := w.top()
	w.fds, w.names = w.fds[:len(w.fds)-1], w.names[:len(w.names)-1]
	return fd
}

func (w *walker) up() error {
	if len(w.fds) > 1 {
		unix.Close(w.take())
		return nil
	}
	// Above where the walk began: ".." itself is never a link.
	fd, err := unix.Openat(w.top(), "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: w.join(".."), Err: err}
	}
	name := filepath.Dir(w.names[0])
	if name == "." {
		name = ".."
	}
	unix.Close(w.fds[0])
	w.fds[0], w.names[0] = fd, name
	return nil
}

// lookup opens name in the current directory as O_PATH without following
// it. A missing last component gives -1 and no error; a missing directory
// is made when mkdirs says so.
func (w *walker) lookup(name string, last, mkdirs bool) (int, error) {
	for made := false; ; {
		fd, err := unix.Openat(w.top(), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		switch {
		case err == nil:
			return fd, nil
		case err == unix.EINTR:
			continue
		case err == unix.ENOENT && last:
			return -1, nil
		case err == unix.ENOENT && mkdirs && !made:
			if err := unix.Mkdirat(w.top(), name, dirMode); err != nil && err != unix.EEXIST {
				return -1, &os.PathError{Op: "mkdir", Path: w.join(name), Err: err}
			}
			made = true
			continue
		}
		return -1, &os.PathError{Op: "open", Path: w.join(name), Err: err}
	}
}

// follow reads the link open as fd, found as name in the current
// directory, if only root could have put it there.
func (w *walker) follow(fd int, name string, link *unix.Stat_t) (string, error) {
	var dir unix.Stat_t
	if err := unix.Fstat(w.top(), &dir); err != nil {
		return "", &os.PathError{Op: "stat", Path: w.names[len(w.names)-1], Err: err}
	}
	if !trustsLinks(&dir, link) {
		return "", &UnsafeError{Path: w.join(name), Reason: fmt.Sprintf(
			"is a symbolic link in a directory writable by %s; a link is followed only where only root can write", writers(&dir, rootOnly, 0, false))}
	}
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: w.join(name), Err: err}
		}
		if n < len(buf) {
			if n == 0 {
				return "", &os.PathError{Op: "readlink", Path: w.join(name), Err: unix.ENOENT}
			}
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// trustsLinks says whether only root could have made the link in dir: dir
// is root's and no one else may write it, or it is sticky and root's, and
// so is the link (no one else may replace a name root owns there).
func trustsLinks(dir, link *unix.Stat_t) bool {
	if writers(dir, rootOnly, 0, false) == "" {
		return true
	}
	return dir.Mode&unix.S_ISVTX != 0 && dir.Uid == 0 && link.Uid == 0
}

func rootOnly(uid uint32) bool { return uid == 0 }
