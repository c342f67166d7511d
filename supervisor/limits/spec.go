package limits

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
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

var policies = [...]Policy{PolicyLog, PolicyRestart, PolicyStop, PolicyKill}

// Policies lists every policy, in the order they are listed to an operator.
func Policies() []Policy { return slices.Clone(policies[:]) }

func (p Policy) valid() bool { return slices.Contains(policies[:], p) }

// Spec is one worker's limits. It is the [worker.NAME.limits] table of the
// configuration file, decoded: each field's toml tag is its key there.
type Spec struct {
	Memory    uint64        `toml:"memory"`    // bytes of RSS summed over the worker's whole process group; 0 = no limit
	CPU       float64       `toml:"cpu"`       // percent of one core (100 = one full core), from two samples; 0 = no limit
	Sustained time.Duration `toml:"sustained"` // how long a limit must be exceeded before it counts

	MemoryPolicy Policy `toml:"memory_policy"`
	CPUPolicy    Policy `toml:"cpu_policy"`

	// Kernel-enforced limits, which this package neither samples nor
	// enforces: the daemon writes them into each incarnation's cgroup
	// before its spawn (memory.max, memory.high, cpu.max, pids.max). 0
	// leaves each unset. They need cgroup tracking with the controller
	// each names (KernelControllers).
	MemoryMax  uint64  `toml:"memory_max"`  // bytes: past it the kernel reclaims, then OOM-kills in the cgroup
	MemoryHigh uint64  `toml:"memory_high"` // bytes: past it the cgroup is throttled and reclaimed, never killed
	CPUMax     float64 `toml:"cpu_max"`     // percent of one core: 150 is one and a half cores
	PidsMax    int     `toml:"pids_max"`    // processes and threads: a fork past it fails
}

// MinKernelMemory bounds memory_max and memory_high from below: a smaller
// cgroup is killed at its first allocation.
const MinKernelMemory = 1 << 20

// MaxPids is the kernel's own ceiling on pids (PID_MAX_LIMIT).
const MaxPids = 1 << 22

// KernelControllers lists, in a fixed order, each kernel-enforced limit
// the Spec sets, by its key, with the cgroup controller it needs.
func (s *Spec) KernelControllers() [][2]string {
	if s == nil {
		return nil
	}
	var out [][2]string
	if s.MemoryMax > 0 {
		out = append(out, [2]string{"memory_max", "memory"})
	}
	if s.MemoryHigh > 0 {
		out = append(out, [2]string{"memory_high", "memory"})
	}
	if s.CPUMax > 0 {
		out = append(out, [2]string{"cpu_max", "cpu"})
	}
	if s.PidsMax > 0 {
		out = append(out, [2]string{"pids_max", "pids"})
	}
	return out
}

// FieldError is a Spec field that fails validation. Field is the Go field
// name; its toml tag is the key a configuration file sets it with. Reason
// never repeats the field's value.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return "limits: " + e.Field + ": " + e.Reason
}

// Validate reports every bad field, each as a *FieldError, joined with
// errors.Join; nil when there is none. A policy is required for each limit
// that is set, and must be empty or valid otherwise.
func (s Spec) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if math.IsNaN(s.CPU) || math.IsInf(s.CPU, 0) || s.CPU < 0 {
		bad("CPU", "must be a percentage of one core, 0 or more")
	}
	if s.Sustained < 0 {
		bad("Sustained", "must not be negative")
	}
	var names []string
	for _, p := range policies {
		names = append(names, strconv.Quote(string(p)))
	}
	use := strings.Join(names, ", ")
	check := func(field string, p Policy, limit string, set bool) {
		switch {
		case p == "" && set:
			bad(field, "must be set while %s is (use one of %s)", limit, use)
		case p != "" && !p.valid():
			bad(field, "invalid value (use one of %s)", use)
		}
	}
	check("MemoryPolicy", s.MemoryPolicy, "memory", s.Memory > 0)
	check("CPUPolicy", s.CPUPolicy, "cpu", s.CPU > 0)
	if s.MemoryMax > 0 && s.MemoryMax < MinKernelMemory {
		bad("MemoryMax", "must be at least 1MiB (or unset): a smaller cgroup is killed at its first allocation")
	}
	if s.MemoryHigh > 0 && s.MemoryHigh < MinKernelMemory {
		bad("MemoryHigh", "must be at least 1MiB (or unset): a smaller cgroup is killed at its first allocation")
	}
	if s.MemoryMax > 0 && s.MemoryHigh > s.MemoryMax {
		bad("MemoryHigh", "must be at most memory_max: above it, it never throttles")
	}
	if math.IsNaN(s.CPUMax) || math.IsInf(s.CPUMax, 0) || s.CPUMax < 0 || s.CPUMax > 0 && s.CPUMax < 1 {
		bad("CPUMax", "must be a percentage of one core, 1 or more (or unset): the kernel's smallest quota is 1 ms in 100")
	}
	if s.PidsMax < 0 || s.PidsMax > MaxPids {
		bad("PidsMax", "must be between 1 and %d (or unset)", MaxPids)
	}
	return errors.Join(errs...)
}
