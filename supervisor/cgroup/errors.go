package cgroup

import (
	"errors"
	"fmt"
)

// Reason says why the cgroup hierarchy cannot be used. Its String is the
// sentence tend shows in `tend status`, `tend check` and the daemon's start
// event.
type Reason int

const (
	// NoCgroup2 means no cgroup2 filesystem is mounted in this mount
	// namespace: a v1-only host, or a container without /sys/fs/cgroup.
	NoCgroup2 Reason = iota + 1
	// NoUnifiedEntry means /proc/self/cgroup has no "0::" line: the
	// kernel was built without cgroup v2, or /proc is not this process's.
	NoUnifiedEntry
	// NotVisible means the daemon's own cgroup lies outside every
	// cgroup2 mount it can see (a bind mount of a subtree, or a cgroup
	// namespace the daemon was moved out of).
	NotVisible
	// NotDelegated means the daemon's own cgroup belongs to someone else:
	// a systemd unit without Delegate=yes, a login session, a container
	// manager's cgroup.
	NotDelegated
	// NotWritable means creating the daemon's subtree was refused:
	// read-only mount, no permission.
	NotWritable
	// OldKernel means the kernel lacks what tend needs: clone3 with
	// CLONE_INTO_CGROUP (5.7) or a way to kill a whole group (cgroup.kill
	// in 5.14, or cgroup.freeze in 5.2).
	OldKernel
	// Clone3Blocked means clone3 is refused although the kernel is new
	// enough: a seccomp profile (some container runtimes) answers ENOSYS
	// or EPERM.
	Clone3Blocked
)

func (r Reason) String() string {
	switch r {
	case NoCgroup2:
		return "no cgroup2 filesystem is mounted"
	case NoUnifiedEntry:
		return "this process has no cgroup v2 membership (/proc/self/cgroup has no 0:: line)"
	case NotVisible:
		return "the daemon's cgroup is outside every mounted cgroup2 hierarchy"
	case NotDelegated:
		return "the daemon's cgroup is not delegated to it"
	case NotWritable:
		return "the cgroup hierarchy is not writable"
	case OldKernel:
		return "the kernel is too old"
	case Clone3Blocked:
		return "clone3 is blocked (seccomp)"
	default:
		return fmt.Sprintf("reason %d", int(r))
	}
}

// ErrUnavailable is matched (errors.Is) by every *UnavailableError: the
// caller falls back to process groups.
var ErrUnavailable = errors.New("cgroup: unavailable")

// UnavailableError says why Open cannot give the daemon a subtree. Path is
// the cgroup or file concerned, Hint what an operator can do; either may be
// empty.
type UnavailableError struct {
	Reason Reason
	Path   string
	Hint   string
	Err    error
}

func (e *UnavailableError) Error() string {
	s := "cgroup: not used: " + e.Reason.String()
	if e.Path != "" {
		s += " (" + e.Path + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// ErrClosed is returned by a Tree's methods after Close.
var ErrClosed = errors.New("cgroup: tree closed")

// ErrPopulated is returned (wrapped) by Remove while live processes remain
// in the group.
var ErrPopulated = errors.New("cgroup: group still has live processes")

// ErrNoController is returned (wrapped) by SetLimits and Stat readers when
// the controller a value needs is not enabled for the daemon's workers.
var ErrNoController = errors.New("cgroup: controller not enabled")

// ErrBadName is returned (wrapped) for a worker or instance name that cannot
// be a cgroup directory name.
var ErrBadName = errors.New("cgroup: bad name")

// GroupError reports a failed operation on one incarnation's cgroup.
type GroupError struct {
	Op          string // "create", "open", "signal", "kill", "remove", "limit", "read"
	Worker      string
	Incarnation uint64
	Path        string // the file or directory concerned
	Err         error
}

func (e *GroupError) Error() string {
	return fmt.Sprintf("cgroup: %s %q incarnation %d (%s): %v", e.Op, e.Worker, e.Incarnation, e.Path, e.Err)
}

func (e *GroupError) Unwrap() error { return e.Err }
