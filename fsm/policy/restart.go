package policy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Restart is the restart mode of a worker.
type Restart string

// Restart modes.
const (
	Always    Restart = "always"
	OnFailure Restart = "on-failure"
	Never     Restart = "never"
)

// Modes lists every restart mode, in the order they are listed to an
// operator. (A function, not a variable: this package keeps no state.)
func Modes() []Restart { return []Restart{Always, OnFailure, Never} }

func (r Restart) valid() bool { return slices.Contains(Modes(), r) }

// defaultStableFloor is the shortest run treated as stable when StableAfter
// is unset; a run shorter than the largest backoff would otherwise reset the
// streak while the worker is still crash-looping at the cap.
const defaultStableFloor = 10 * time.Second

// Spec is a worker's restart configuration. Its fields are keys of the
// worker's table in the configuration file, named by their toml tags;
// StableAfter has no key yet.
type Spec struct {
	Restart         Restart       `toml:"restart"`
	BackoffInitial  time.Duration `toml:"backoff_initial"`      // first delay; 0 allowed (restart at once)
	BackoffMax      time.Duration `toml:"backoff_max"`          // cap
	BreakerMax      int           `toml:"circuit_max_restarts"` // more than BreakerMax automatic restarts inside BreakerWindow opens the breaker; 0 = no breaker
	BreakerWindow   time.Duration `toml:"circuit_window"`
	BreakerCooldown time.Duration `toml:"circuit_cooldown"` // 0 = stays open until an operator starts the worker
	StableAfter     time.Duration `toml:"-"`                // a run at least this long resets the failure streak; 0 means use max(BackoffMax, 10s)
}

// StableThreshold is the run length from which a run counts as stable.
// Non-positive StableAfter falls back to the default so that a zero Spec
// does not call every instant crash stable.
func (s Spec) StableThreshold() time.Duration {
	if s.StableAfter > 0 {
		return s.StableAfter
	}
	return max(s.BackoffMax, defaultStableFloor)
}

// FieldError is a Spec field that fails validation. Field is the Go field
// name; its toml tag is the key a configuration file sets it with. Reason
// never repeats the field's value, and names other settings by their keys.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return "policy: " + e.Field + ": " + e.Reason
}

// Validate reports configuration that Decide would silently clamp, so the
// operator hears about it when loading the config rather than from odd
// restart timing later: every bad field, each as a *FieldError, joined with
// errors.Join; nil when there is none.
func (s Spec) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if !s.Restart.valid() {
		var q []string
		for _, m := range Modes() {
			q = append(q, strconv.Quote(string(m)))
		}
		bad("Restart", "invalid value (use one of %s)", strings.Join(q, ", "))
	}
	if s.BackoffInitial < 0 {
		bad("BackoffInitial", "must not be negative")
	}
	if s.BackoffMax < s.BackoffInitial {
		bad("BackoffMax", "must be at least backoff_initial")
	}
	if s.BreakerMax < 0 {
		bad("BreakerMax", "must not be negative")
	}
	if s.BreakerMax > 0 && s.BreakerWindow <= 0 {
		bad("BreakerWindow", "must be greater than 0 while circuit_max_restarts is set (set circuit_max_restarts = 0 to turn the breaker off)")
	}
	if s.BreakerCooldown < 0 {
		bad("BreakerCooldown", "must not be negative")
	}
	if s.StableAfter < 0 {
		bad("StableAfter", "must not be negative")
	}
	return errors.Join(errs...)
}
