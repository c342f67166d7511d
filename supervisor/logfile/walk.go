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

// errSlow says the one-call open could not decide: the walk must.
var errSlow = errors.New("walk")

// openFast opens path with flags|safeFlags in one openat2 that refuses
// every symbolic link. errSlow means there is a link on the way (the walk
// judges it), a directory to make (mkdirs), or no openat2 at all.
func openFast(path string, flags int, mode uint32, mkdirs bool) (int, error) {
	if noOpenat2.Load() {
		return -1, errSlow
	}
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
			return -1, errSlow
		case err == unix.ELOOP, err == unix.ENOENT && mkdirs:
			return -1, errSlow
		}
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
}

// place is where the walk found a path's last component.
type place struct {
	dir  int    // the directory holding it, open O_PATH
	name string // the last component, which may not exist
	// trusted: only root can write dir, so whatever is in it is root's.
	trusted bool
	// magic: name is a link in a root-only directory of /proc (such as
	// /proc/self/fd/1, where /dev/stdout leads), which names an open file
	// rather than a path: it is opened through the kernel's own resolution.
	magic bool
}

func (p *place) close() { unix.Close(p.dir) }

// open opens the last component with flags|safeFlags, following it only
// when it is a magic link. display is the path for messages.
func (p *place) open(display string, flags int, mode uint32) (int, error) {
	extra := safeFlags
	if p.magic {
		extra &^= unix.O_NOFOLLOW
	}
	for {
		fd, err := unix.Openat(p.dir, p.name, flags|extra, mode)
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
// and returns where its last component is (which may not exist). A
// symbolic link is followed only in a directory where only root could have
// made it (trustsLinks), the last component included; any other link is
// an *UnsafeError. mkdirs makes missing directories 0750.
func walk(path string, mkdirs bool) (*place, error) {
	var w walker
	defer w.closeAll()
	if err := w.reset(filepath.IsAbs(path)); err != nil {
		return nil, err
	}
	comps := strings.Split(path, "/")
	links := 0
	for len(comps) > 0 {
		c := comps[0]
		comps = comps[1:]
		last := len(comps) == 0
		switch {
		case last && (c == "" || c == "." || c == ".."):
			return nil, &os.PathError{Op: "open", Path: path, Err: unix.EISDIR}
		case c == "" || c == ".":
			continue
		case c == "..":
			if err := w.up(); err != nil {
				return nil, err
			}
			continue
		}
		fd, err := w.lookup(c, last, mkdirs)
		if err != nil {
			return nil, err
		}
		if fd < 0 { // the last component does not exist
			return w.place(c)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, &os.PathError{Op: "stat", Path: w.join(c), Err: err}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			if last {
				if magic, err := w.magic(c, &st); err != nil || magic {
					unix.Close(fd)
					if err != nil {
						return nil, err
					}
					p, err := w.place(c)
					if p != nil {
						p.magic = true
					}
					return p, err
				}
			}
			target, err := w.follow(fd, c, &st)
			unix.Close(fd)
			if err != nil {
				return nil, err
			}
			if links++; links > maxLinks {
				return nil, &os.PathError{Op: "open", Path: path, Err: unix.ELOOP}
			}
			if filepath.IsAbs(target) {
				if err := w.reset(true); err != nil {
					return nil, err
				}
			}
			comps = append(strings.Split(target, "/"), comps...)
		case unix.S_IFDIR:
			if last {
				unix.Close(fd)
				return w.place(c)
			}
			w.push(fd, c)
		default:
			unix.Close(fd)
			if last {
				return w.place(c)
			}
			return nil, &os.PathError{Op: "open", Path: w.join(c), Err: unix.ENOTDIR}
		}
	}
	return nil, &os.PathError{Op: "open", Path: path, Err: unix.EISDIR}
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

// place hands the current directory to the caller, with name in it.
func (w *walker) place(name string) (*place, error) {
	var st unix.Stat_t
	if err := unix.Fstat(w.top(), &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: w.names[len(w.names)-1], Err: err}
	}
	return &place{dir: w.take(), name: name, trusted: writers(&st, rootOnly, 0, false) == ""}, nil
}

// magic says whether the last component, a link, is a magic link: in
// /proc, in a directory only root can write. Such a link names an open
// file, not a path, and cannot be walked; where only root can write, it is
// the daemon's own (/proc/self/fd/1) and opened as the kernel resolves it.
func (w *walker) magic(name string, link *unix.Stat_t) (bool, error) {
	var fs unix.Statfs_t
	if err := unix.Fstatfs(w.top(), &fs); err != nil || fs.Type != unix.PROC_SUPER_MAGIC {
		return false, nil
	}
	var dir unix.Stat_t
	if err := unix.Fstat(w.top(), &dir); err != nil {
		return false, &os.PathError{Op: "stat", Path: w.names[len(w.names)-1], Err: err}
	}
	return trustsLinks(&dir, link), nil
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
