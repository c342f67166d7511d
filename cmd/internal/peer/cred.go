package peer

import (
	"fmt"
	"net"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Cred is who is on the other end of a unix socket connection, as the
// kernel recorded it when the peer called connect(). The pid is a snapshot
// that may name another process by the time it is read: it is recorded for
// the reader of the log, never used to decide.
type Cred struct {
	UID, GID uint32
	PID      int32
	// Groups are the peer's supplementary groups at connect time.
	Groups []uint32
}

// Of returns the credentials of c's peer: those recorded at accept for a
// connection this package admitted, otherwise read from the socket.
func Of(c net.Conn) (Cred, error) {
	switch c := c.(type) {
	case *Conn:
		return c.Cred, nil
	case *net.UnixConn:
		return read(c)
	}
	return Cred{}, fmt.Errorf("peer credentials: %T is not a unix socket connection", c)
}

func read(c *net.UnixConn) (Cred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	var cred Cred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		var u *unix.Ucred
		u, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if cerr != nil {
			return
		}
		cred = Cred{UID: u.Uid, GID: u.Gid, PID: u.Pid}
		cred.Groups, cerr = peerGroups(int(fd))
	}); err != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", err)
	}
	if cerr != nil {
		return Cred{}, fmt.Errorf("peer credentials: %w", cerr)
	}
	return cred, nil
}

// peerGroups reads SO_PEERGROUPS (Linux 4.13 and later), which x/sys/unix
// has no helper for. The kernel answers ERANGE with the size it needs when
// the buffer is too small.
func peerGroups(fd int) ([]uint32, error) {
	buf := make([]uint32, 32)
	for {
		n := uint32(len(buf) * 4)
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		switch {
		case e == unix.ERANGE && int(n/4) > len(buf):
			buf = make([]uint32, n/4)
			continue
		case e != 0:
			return nil, fmt.Errorf("SO_PEERGROUPS: %w", e)
		}
		return slices.Clip(buf[:n/4]), nil
	}
}

// Rule is the one rule every socket applies: root, the daemon's own uid and
// members of the socket group are admitted; nobody else is.
//
// Membership of the group is the peer process's, as the kernel holds it:
// its primary group or one of its supplementary groups at connect time.
// It is the same test the kernel made when it let the process open a
// socket file of mode 0660 in that group, so the rule and the file's
// permissions cannot disagree. A user added to or removed from the group in
// /etc/group is treated accordingly from their next login, as every file on
// the host treats them; the user database is never read per connection.
type Rule struct {
	UID uint32 // the daemon's own uid
	GID int    // the socket group's gid; -1 when there is none
}

// Allows reports whether c may use the socket.
func (r Rule) Allows(c Cred) bool {
	if r.Owner(c) {
		return true
	}
	if r.GID < 0 {
		return false
	}
	g := uint32(r.GID)
	return c.GID == g || slices.Contains(c.Groups, g)
}

// Owner reports whether c is root or the daemon's own uid: those may use
// the connections held in reserve.
func (r Rule) Owner(c Cred) bool { return c.UID == 0 || c.UID == r.UID }
