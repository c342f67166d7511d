package health

import (
	"fmt"
	"net"
	"net/url"
	"time"
)

// Probe types.
const (
	TypeExec = "exec"
	TypeTCP  = "tcp"
	TypeHTTP = "http"
)

// Spec describes one health check.
type Spec struct {
	Type    string   // "exec" | "tcp" | "http"
	Command []string // exec: argv; healthy iff exit 0
	Address string   // tcp: host:port; healthy iff connect succeeds
	URL     string   // http: GET; healthy iff 2xx or 3xx (redirects are not followed)

	Interval time.Duration // between probe starts
	Timeout  time.Duration // per probe
	Grace    time.Duration // before the first probe
	Failures int           // consecutive failures that make the worker unhealthy (>=1)
}

// FieldError is a Spec field that fails validation. Field is the Go field
// name, so a config loader can map it to its own key and line.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return "health: " + e.Field + ": " + e.Reason
}

// Validate reports the first bad field as a *FieldError.
func (s Spec) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch s.Type {
	case TypeExec:
		if len(s.Command) == 0 || s.Command[0] == "" {
			return bad("Command", "an exec check needs a command")
		}
	case TypeTCP:
		host, port, err := net.SplitHostPort(s.Address)
		if err != nil {
			return bad("Address", "%q is not host:port: %v", s.Address, err)
		}
		if host == "" || port == "" {
			return bad("Address", "%q needs both a host and a port", s.Address)
		}
	case TypeHTTP:
		u, err := url.Parse(s.URL)
		if err != nil {
			return bad("URL", "%v", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return bad("URL", "%q: scheme must be http or https", s.URL)
		}
		if u.Host == "" {
			return bad("URL", "%q has no host", s.URL)
		}
	default:
		return bad("Type", "%q is not one of exec, tcp, http", s.Type)
	}
	// A field meant for another probe type is almost always a config mistake
	// (the check the operator wrote is not the check that would run).
	if s.Type != TypeExec && len(s.Command) > 0 {
		return bad("Command", "set, but Type is %q", s.Type)
	}
	if s.Type != TypeTCP && s.Address != "" {
		return bad("Address", "set, but Type is %q", s.Type)
	}
	if s.Type != TypeHTTP && s.URL != "" {
		return bad("URL", "set, but Type is %q", s.Type)
	}
	switch {
	case s.Interval <= 0:
		return bad("Interval", "must be positive, got %v", s.Interval)
	case s.Timeout <= 0:
		return bad("Timeout", "must be positive, got %v", s.Timeout)
	case s.Grace < 0:
		return bad("Grace", "must not be negative, got %v", s.Grace)
	case s.Failures < 1:
		return bad("Failures", "must be at least 1, got %d", s.Failures)
	}
	return nil
}
