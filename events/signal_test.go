package events

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]int{
		"HUP": 1, "SIGHUP": 1, "hup": 1, "SigHup": 1, " 1 ": 1, "9": 9, "KILL": 9, "USR2": 12,
		"WINCH": 28, "IOT": 6, "POLL": 29, "RTMIN": 34, "SIGRTMIN+1": 35, "rtmax": 64, "RTMAX-2": 62,
		"34": 34, "64": 64, "STOP": 19, "CONT": 18,
	} {
		got, err := ParseSignal(in)
		if err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "32", "33", "65", "FOO", "SIGFOO", "RTMIN+31", "RTMIN-1",
		"RTMAX+1", "RTMIN+", "RTMIN+01", "SIG", "1.5"} {
		_, err := ParseSignal(in)
		if !errors.Is(err, ErrBadSignal) {
			t.Errorf("ParseSignal(%q): %v, want ErrBadSignal", in, err)
			continue
		}
		if !strings.Contains(err.Error(), `"`+in+`"`) {
			t.Errorf("ParseSignal(%q): the error does not name what it refused: %v", in, err)
		}
	}
}

// Every signal ParseSignal accepts has a name that parses back to it.
func TestSignalNamesRoundTrip(t *testing.T) {
	for n := 1; n <= 64; n++ {
		got, err := ParseSignal(SignalName(n))
		if n == 32 || n == 33 {
			if err == nil {
				t.Errorf("signal %d accepted", n)
			}
			continue
		}
		if err != nil || got != n {
			t.Errorf("signal %d: name %q parses as %d, %v", n, SignalName(n), got, err)
		}
	}
}
