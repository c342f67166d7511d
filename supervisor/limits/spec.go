package limits

import (
	"fmt"
	"math"
	"time"
)

// Policy is what the supervisor should do about a violation. This package
// only carries it.
type Policy string

// Policies.
const (
	PolicyLog     Policy = "log"
	PolicyRestart Policy = "restart"
	PolicyStop    Policy = "stop"
	PolicyKill    Policy = "kill"
)

func (p Policy) valid() bool {
	switch p {
	case PolicyLog, PolicyRestart, PolicyStop, PolicyKill:
		return true
	}
	return false
}

// Spec is one worker's limits.
type Spec struct {
	Memory    uint64        // bytes of RSS summed over the worker's whole process group; 0 = no limit
	CPU       float64       // percent of one core (100 = one full core), from two samples; 0 = no limit
	Sustained time.Duration // how long a limit must be exceeded before it counts

	MemoryPolicy, CPUPolicy Policy
}

// FieldError is a Spec field that fails validation. Field is the Go field
// name, so a config loader can map it to its own key and line.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return "limits: " + e.Field + ": " + e.Reason
}

// Validate reports the first bad field as a *FieldError. A policy is required
// for each limit that is set, and must be empty or valid otherwise.
func (s Spec) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if math.IsNaN(s.CPU) || math.IsInf(s.CPU, 0) || s.CPU < 0 {
		return bad("CPU", "must be a non-negative percentage, got %v", s.CPU)
	}
	if s.Sustained < 0 {
		return bad("Sustained", "must not be negative, got %v", s.Sustained)
	}
	check := func(field string, p Policy, set bool) error {
		switch {
		case p == "" && set:
			return bad(field, "a limit is set but no policy (want log, restart, stop or kill)")
		case p != "" && !p.valid():
			return bad(field, "%q is not one of log, restart, stop, kill", p)
		}
		return nil
	}
	if err := check("MemoryPolicy", s.MemoryPolicy, s.Memory > 0); err != nil {
		return err
	}
	return check("CPUPolicy", s.CPUPolicy, s.CPU > 0)
}
