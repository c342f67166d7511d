package events

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Linux's real-time signals as the kernel numbers them. glibc keeps 32
// and 33 for itself, so a program's SIGRTMIN is 34.
const (
	sigRTMin = 34
	sigRTMax = 64
)

var signalNames = map[int]string{
	1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 5: "TRAP", 6: "ABRT", 7: "BUS", 8: "FPE",
	9: "KILL", 10: "USR1", 11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM",
	16: "STKFLT", 17: "CHLD", 18: "CONT", 19: "STOP", 20: "TSTP", 21: "TTIN", 22: "TTOU",
	23: "URG", 24: "XCPU", 25: "XFSZ", 26: "VTALRM", 27: "PROF", 28: "WINCH", 29: "IO",
	30: "PWR", 31: "SYS",
}

// Other names of the same signals, as kill(1) accepts them.
var signalAliases = map[string]int{"IOT": 6, "CLD": 17, "POLL": 29}

// SignalName gives the short name of a Linux signal number ("KILL",
// "RTMIN+2"), or the number itself when it has none.
func SignalName(sig int) string {
	if n, ok := signalNames[sig]; ok {
		return n
	}
	switch {
	case sig == sigRTMin:
		return "RTMIN"
	case sig == sigRTMax:
		return "RTMAX"
	case sig > sigRTMin && sig < sigRTMax:
		return fmt.Sprintf("RTMIN+%d", sig-sigRTMin)
	}
	return strconv.Itoa(sig)
}

// ErrBadSignal: a name or number that is not a signal a program can be
// sent.
var ErrBadSignal = errors.New("not a signal")

// ParseSignal reads a signal as people write it: a name with or without
// SIG, in any case ("HUP", "SIGHUP", "hup"), RTMIN+n or RTMAX-n, or a
// number. It accepts 1-31 and the real-time signals 34-64: 0 sends
// nothing, and 32 and 33 belong to the C library. The error names what it
// refused.
func ParseSignal(s string) (int, error) {
	name := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
	if n, err := strconv.Atoi(name); err == nil {
		if (n >= 1 && n <= 31) || (n >= sigRTMin && n <= sigRTMax) {
			return n, nil
		}
		return 0, fmt.Errorf("%w: %q (a number is 1-31 or %d-%d)", ErrBadSignal, s, sigRTMin, sigRTMax)
	}
	for n, sn := range signalNames {
		if sn == name {
			return n, nil
		}
	}
	if n, ok := signalAliases[name]; ok {
		return n, nil
	}
	for _, rt := range []struct {
		prefix string
		base   int
		sign   int
	}{{"RTMIN", sigRTMin, 1}, {"RTMAX", sigRTMax, -1}} {
		rest, ok := strings.CutPrefix(name, rt.prefix)
		if !ok {
			continue
		}
		off := 0
		if rest != "" {
			op := "+"
			if rt.sign < 0 {
				op = "-"
			}
			num, ok := strings.CutPrefix(rest, op)
			var err error
			if off, err = strconv.Atoi(num); !ok || err != nil || off < 0 || num != strconv.Itoa(off) {
				break
			}
		}
		if n := rt.base + rt.sign*off; n >= sigRTMin && n <= sigRTMax {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w: %q (a name such as HUP or SIGHUP, RTMIN+n, or a number)", ErrBadSignal, s)
}
