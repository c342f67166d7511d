package health

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Type names a kind of probe.
type Type string

// Probe types. Each has its row in probeTypes.
const (
	TypeExec Type = "exec"
	TypeTCP  Type = "tcp"
	TypeHTTP Type = "http"
)

// Spec describes one health check. It is the [worker.NAME.health] table of
// the configuration file, decoded: each field's toml tag is its key there.
type Spec struct {
	Type    Type     `toml:"type"`
	Command []string `toml:"command"` // exec: argv; healthy iff exit 0
	Address string   `toml:"address"` // tcp: host:port (no host: this host); healthy iff connect succeeds
	URL     string   `toml:"url"`     // http: GET; healthy iff 2xx or 3xx (redirects are not followed)

	Interval time.Duration `toml:"interval"` // between probe starts
	Timeout  time.Duration `toml:"timeout"`  // per probe
	Grace    time.Duration `toml:"grace"`    // before the first probe
	Failures int           `toml:"failures"` // consecutive failures that make the worker unhealthy (>=1)
}

// probeType is what sets one type of probe apart: the one Spec field that
// says what to check (every other type refuses it), the check of that
// field's value, and how to make its prober.
type probeType struct {
	typ    Type
	target string
	check  func(Spec) string // the reason the target is wrong, or ""
	prober func(Spec) prober
}

// probeTypes is every probe type, in the order they are listed to an
// operator.
var probeTypes = []probeType{
	{TypeExec, "Command", checkCommand, newExecProber},
	{TypeTCP, "Address", checkAddress, newTCPProber},
	{TypeHTTP, "URL", checkURL, newHTTPProber},
}

// targetField is a Spec field a probe type can check, and whether a Spec
// sets it. A nil Command is unset; an empty one is set, and wrong.
type targetField struct {
	field string
	set   func(Spec) bool
}

var targets = []targetField{
	{"Command", func(s Spec) bool { return s.Command != nil }},
	{"Address", func(s Spec) bool { return s.Address != "" }},
	{"URL", func(s Spec) bool { return s.URL != "" }},
}

// Types lists every probe type.
func Types() []Type {
	out := make([]Type, len(probeTypes))
	for i, p := range probeTypes {
		out[i] = p.typ
	}
	return out
}

func lookup(t Type) (probeType, bool) {
	for _, p := range probeTypes {
		if p.typ == t {
			return p, true
		}
	}
	return probeType{}, false
}

// FieldError is a Spec field that fails validation. Field is the Go field
// name; its toml tag is the key a configuration file sets it with. Reason
// never repeats the field's value: a URL may carry a password.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return "health: " + e.Field + ": " + e.Reason
}

// Validate reports every bad field, each as a *FieldError, joined with
// errors.Join; nil when there is none.
func (s Spec) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if p, ok := lookup(s.Type); !ok {
		bad("Type", "invalid value (use one of %s)", quoted(Types(), ", "))
	} else {
		// A field meant for another probe type is almost always a
		// leftover of an edited check: the check the operator reads is
		// then not the check that runs.
		for _, tg := range targets {
			switch {
			case tg.field == p.target && !tg.set(s):
				bad(tg.field, "must be set for type = %q", s.Type)
			case tg.field == p.target:
				if r := p.check(s); r != "" {
					bad(tg.field, "%s", r)
				}
			case tg.set(s):
				bad(tg.field, "is only used with type = %s, not %q", quoted(usersOf(tg.field), " or "), s.Type)
			}
		}
	}
	if s.Interval <= 0 {
		bad("Interval", "must be greater than 0")
	}
	if s.Timeout <= 0 {
		bad("Timeout", "must be greater than 0")
	}
	if s.Grace < 0 {
		bad("Grace", "must not be negative")
	}
	if s.Failures < 1 {
		bad("Failures", "must be at least 1")
	}
	return errors.Join(errs...)
}

// usersOf lists the probe types that check field.
func usersOf(field string) []Type {
	var out []Type
	for _, p := range probeTypes {
		if p.target == field {
			out = append(out, p.typ)
		}
	}
	return out
}

func quoted(ts []Type, sep string) string {
	q := make([]string, len(ts))
	for i, t := range ts {
		q[i] = strconv.Quote(string(t))
	}
	return strings.Join(q, sep)
}

func checkCommand(s Spec) string {
	if len(s.Command) == 0 || s.Command[0] == "" {
		return "must name a program"
	}
	return ""
}

// checkAddress accepts "host:port" with a port from 1 to 65535. An empty
// host is this host, as a dial has it.
func checkAddress(s Spec) string {
	_, port, err := net.SplitHostPort(s.Address)
	if err != nil {
		return `invalid address (use host:port, e.g. "127.0.0.1:8080")`
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "invalid port (use 1-65535)"
	}
	return ""
}

func checkURL(s Spec) string {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return `invalid URL (use e.g. "http://127.0.0.1:8080/healthz")`
	}
	return ""
}
