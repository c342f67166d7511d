package launch

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExitFailed is the launcher's exit status after it reported a failed
// step. The daemon never reports it as the worker's: the failure comes
// back as an *Error.
const ExitFailed = 127

// The steps of the launcher, as they travel on the socket.
const (
	opConfig byte = iota + 1
	opCloexec
	opRlimit
	opSetgroups
	opSetgid
	opSetuid
	opChdir
	opNoNewPrivs
	opExec
)

var opNames = map[byte]string{
	opConfig:     "read configuration",
	opCloexec:    "set close-on-exec",
	opRlimit:     "setrlimit",
	opSetgroups:  "setgroups",
	opSetgid:     "setgid",
	opSetuid:     "setuid",
	opChdir:      "chdir",
	opNoNewPrivs: "set no_new_privs",
	opExec:       "exec",
}

// Bytes the launcher writes to the daemon: execing right before it
// execs, failed followed by the step, the errno and the step's argument
// (the resource of a limit), each 4 bytes little-endian.
const (
	execing   = 'x'
	failed    = 'e'
	recordLen = 1 + 1 + 4 + 4
)

// Error is a failure of the launcher before the worker's program ran.
// Unwrap reaches the syscall.Errno the kernel gave, so callers branch on
// ENOENT or EACCES as they would for a plain fork and exec.
type Error struct {
	Op  string // the step: "exec", "chdir", "setrlimit", "setuid", ...; "" for none
	Arg string // what the step was about: the program, the directory, the resource
	Err error
}

func (e *Error) Error() string {
	what := strings.TrimSpace(e.Op + " " + e.Arg)
	if what == "" {
		return "launch: " + e.Err.Error()
	}
	return "launch: " + what + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

var errMalformedReport = errors.New("malformed report from the launcher")

// ErrDied: the launcher ended before it could exec the program or say
// why; its exit status follows in the message.
var ErrDied = errors.New("launcher ended before the program ran")

// ErrNotWired: this binary never called Main, so exec'ing it as the
// launcher would run its own main instead.
var ErrNotWired = errors.New("launch: this binary does not call launch.Main first in main")

// failure encodes a failed step for the daemon.
func failure(op byte, errno syscall.Errno, arg uint32) []byte {
	b := make([]byte, 2, recordLen)
	b[0], b[1] = failed, op
	b = binary.LittleEndian.AppendUint32(b, uint32(errno))
	return binary.LittleEndian.AppendUint32(b, arg)
}

// result reads what the launcher said on its way: nil and true when it
// reached exec, an *Error when it reported a failed step, and false when
// it said nothing at all.
func result(b []byte, c *Config) (err error, reachedExec bool) {
	if len(b) > 0 && b[0] == execing {
		reachedExec = true
		b = b[1:]
	}
	if len(b) == 0 {
		return nil, reachedExec
	}
	if len(b) < recordLen || b[0] != failed {
		return &Error{Err: errMalformedReport}, reachedExec
	}
	op := b[1]
	errno := syscall.Errno(binary.LittleEndian.Uint32(b[2:]))
	arg := binary.LittleEndian.Uint32(b[6:])
	e := &Error{Op: opNames[op], Err: errno}
	if e.Op == "" {
		e.Op = "step " + strconv.Itoa(int(op))
	}
	switch op {
	case opRlimit:
		e.Arg = RlimitName(int(arg))
	case opChdir:
		e.Arg = c.Dir
	case opExec:
		e.Arg = c.Path
	}
	return e, reachedExec
}

var rlimitNames = map[int]string{
	unix.RLIMIT_AS:         "as",
	unix.RLIMIT_CORE:       "core",
	unix.RLIMIT_CPU:        "cpu",
	unix.RLIMIT_DATA:       "data",
	unix.RLIMIT_FSIZE:      "fsize",
	unix.RLIMIT_LOCKS:      "locks",
	unix.RLIMIT_MEMLOCK:    "memlock",
	unix.RLIMIT_MSGQUEUE:   "msgqueue",
	unix.RLIMIT_NICE:       "nice",
	unix.RLIMIT_NOFILE:     "nofile",
	unix.RLIMIT_NPROC:      "nproc",
	unix.RLIMIT_RSS:        "rss",
	unix.RLIMIT_RTPRIO:     "rtprio",
	unix.RLIMIT_RTTIME:     "rttime",
	unix.RLIMIT_SIGPENDING: "sigpending",
	unix.RLIMIT_STACK:      "stack",
}

// RlimitName is the short name of a resource ("nofile"), as the
// configuration spells it.
func RlimitName(resource int) string {
	if n, ok := rlimitNames[resource]; ok {
		return n
	}
	return "resource " + strconv.Itoa(resource)
}
