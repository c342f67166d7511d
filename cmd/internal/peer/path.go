package peer

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Errors of the socket path, for errors.Is.
var (
	// ErrNotSocket: something other than a socket is at the path (a
	// regular file such as the event log, a directory, a symbolic link
	// even to a socket). Listen never removes it.
	ErrNotSocket = errors.New("not a socket")
	// ErrInUse: a live socket is at the path; something answers on it.
	ErrInUse = errors.New("something already answers on it")
)

// PathError is a socket path Listen will not use.
type PathError struct {
	Path string
	What string // what is there: "a regular file", "a symbolic link", ...
	Err  error  // ErrNotSocket, ErrInUse, or what the system said
}

func (e *PathError) Error() string {
	switch {
	case errors.Is(e.Err, ErrNotSocket):
		return fmt.Sprintf("%s is %s, not a socket: tend replaces only a socket that nothing answers on (one a daemon left behind); name another path, or remove it yourself", e.Path, e.What)
	case errors.Is(e.Err, ErrInUse):
		return fmt.Sprintf("%s: a socket that something already answers on (another tend daemon?)", e.Path)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *PathError) Unwrap() error { return e.Err }

// CheckPath is the part of Listen's check that can be made in advance, by
// "tend check": the path is free, or holds a socket (stale or live, which
// only Listen can tell apart). Something else there is a *PathError with
// ErrNotSocket. A path that cannot be looked at (a user who may not enter
// the daemon's directory runs the check) is not judged: Listen will be.
func CheckPath(path string) error {
	_, err := existingSocket(path)
	if errors.Is(err, ErrNotSocket) {
		return err
	}
	return nil
}

// existingSocket reports whether a socket is at path, and fails when
// anything else is.
func existingSocket(path string) (bool, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, &PathError{Path: path, Err: err}
	case fi.Mode().Type() == fs.ModeSocket:
		return true, nil
	}
	return false, &PathError{Path: path, What: describe(fi.Mode()), Err: ErrNotSocket}
}

func describe(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "a regular file"
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSymlink:
		return "a symbolic link"
	case fs.ModeNamedPipe:
		return "a named pipe"
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		return "a device"
	}
	return "not a regular file"
}

// Listen opens a unix socket at path, mode 0600, or 0660 in group gid when
// gid >= 0. A stale socket at the path (nothing answers on it) is
// replaced; a live one, a symbolic link and anything that is not a socket
// are left alone and reported as a *PathError.
//
// Closing the listener removes the socket file only if the path still
// names the socket it created.
func Listen(path string, gid int) (net.Listener, error) {
	exists, err := existingSocket(path)
	if err != nil {
		return nil, err
	}
	if exists {
		c, err := net.DialTimeout("unix", path, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return nil, &PathError{Path: path, Err: ErrInUse}
		}
		// Look again right before removing: only a socket is removed.
		if _, err := existingSocket(path); err != nil {
			return nil, err
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, &PathError{Path: path, Err: fmt.Errorf("remove stale socket: %w", err)}
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // by Close below, which checks what it removes
	ours := &socketFile{UnixListener: ul, path: path}
	if err := ours.setMode(gid); err != nil {
		ours.Close()
		return nil, &PathError{Path: path, Err: err}
	}
	return ours, nil
}

// setMode gives the socket file just created its owner group and mode,
// through a handle that cannot follow a symbolic link put in its place.
func (s *socketFile) setMode(gid int) error {
	fd, err := unix.Open(s.path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the new socket: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat the new socket: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return errors.New("the new socket was replaced by something else")
	}
	s.ino = st.Ino
	mode := uint32(0o600)
	if gid >= 0 {
		mode = 0o660
		if err := unix.Fchownat(fd, "", -1, gid, unix.AT_EMPTY_PATH); err != nil {
			return fmt.Errorf("chown socket: %w", err)
		}
	}
	// An O_PATH handle takes no fchmod; its /proc link reaches the same
	// inode without looking the path up again.
	if err := unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", fd), mode); err != nil {
		return fmt.Errorf("chmod socket: %w", err)
	}
	return nil
}

// socketFile removes its socket file on Close, if the path still names it.
type socketFile struct {
	*net.UnixListener
	path string
	ino  uint64
	once sync.Once
}

func (s *socketFile) Close() error {
	err := s.UnixListener.Close()
	s.once.Do(func() {
		fi, lerr := os.Lstat(s.path)
		if lerr != nil || fi.Mode().Type() != fs.ModeSocket || fi.Sys().(*syscall.Stat_t).Ino != s.ino {
			return
		}
		_ = os.Remove(s.path)
	})
	return err
}
