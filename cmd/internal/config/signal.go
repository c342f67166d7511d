package config

import (
	"strconv"
	"strings"
	"syscall"
)

// stopSignals are the names a stop_signal may use. The list is short on
// purpose: these are the signals programs actually treat as "please stop".
func stopSignalByName(name string) (syscall.Signal, bool) {
	switch strings.TrimPrefix(strings.ToUpper(name), "SIG") {
	case "TERM":
		return syscall.SIGTERM, true
	case "INT":
		return syscall.SIGINT, true
	case "HUP":
		return syscall.SIGHUP, true
	case "QUIT":
		return syscall.SIGQUIT, true
	case "KILL":
		return syscall.SIGKILL, true
	case "USR1":
		return syscall.SIGUSR1, true
	case "USR2":
		return syscall.SIGUSR2, true
	}
	return 0, false
}

// maxSignal is SIGRTMAX on Linux.
const maxSignal = 64

func (t *table) signal(name string, def syscall.Signal) syscall.Signal {
	v, ok := t.get(name)
	if !ok {
		return def
	}
	var n int64
	switch v := v.(type) {
	case int64:
		n = v
	case string:
		if s, ok := stopSignalByName(v); ok {
			return s
		}
		num, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.errorf(name, "invalid signal (use TERM, INT, HUP, QUIT, KILL, USR1, USR2 or a number 1-%d)", maxSignal)
			return def
		}
		n = num
	default:
		t.wrongType(name, `a signal name such as "TERM" or a number`, v)
		return def
	}
	if n < 1 || n > maxSignal {
		t.errorf(name, "invalid signal number (use 1-%d)", maxSignal)
		return def
	}
	return syscall.Signal(n)
}
