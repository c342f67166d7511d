package proc

import (
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Exit is how an incarnation ended.
type Exit struct {
	// Code is the exit status, or -1 when the process was killed by a
	// signal or the status is unknown.
	Code int
	// Signal is the signal that killed the process, 0 if none.
	Signal syscall.Signal
	// CoreDumped is set when the kernel wrote a core for Signal.
	CoreDumped bool
	// Err is set when the status could not be collected at all.
	Err error
}

// exitFromStatus turns a raw wait status into an Exit.
func exitFromStatus(ws syscall.WaitStatus) Exit {
	switch {
	case ws.Exited():
		return Exit{Code: ws.ExitStatus()}
	case ws.Signaled():
		return Exit{Code: -1, Signal: ws.Signal(), CoreDumped: ws.CoreDump()}
	default:
		return Exit{Code: -1}
	}
}

// String renders the exit the way an operator reads it:
// "exit status 3", "signal KILL", "signal TERM (core dumped)".
func (e Exit) String() string {
	switch {
	case e.Err != nil:
		return "unknown: " + e.Err.Error()
	case e.Signal != 0:
		s := "signal " + signalName(e.Signal)
		if e.CoreDumped {
			s += " (core dumped)"
		}
		return s
	case e.Code < 0:
		return "unknown"
	default:
		return "exit status " + strconv.Itoa(e.Code)
	}
}

// Success reports a clean exit with status 0.
func (e Exit) Success() bool {
	return e.Err == nil && e.Signal == 0 && e.Code == 0
}

func signalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return strings.TrimPrefix(n, "SIG")
	}
	return strconv.Itoa(int(sig))
}
