package policy

import (
	"errors"
	"fmt"
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

// ParseRestart accepts the mode names case-insensitively and ignores
// surrounding space, since they come from hand-written configuration. The
// empty string is an error: defaulting is the configuration layer's call.
func ParseRestart(s string) (Restart, error) {
	switch r := Restart(strings.ToLower(strings.TrimSpace(s))); r {
	case Always, OnFailure, Never:
		return r, nil
	}
	return "", fmt.Errorf("policy: unknown restart mode %q (want %q, %q or %q)", s, Always, OnFailure, Never)
}

func (r Restart) valid() bool {
	return r == Always || r == OnFailure || r == Never
}

// defaultStableFloor is the shortest run treated as stable when StableAfter
// is unset; a run shorter than the largest backoff would otherwise reset the
// streak while the worker is still crash-looping at the cap.
const defaultStableFloor = 10 * time.Second

// Spec is a worker's restart configuration.
type Spec struct {
	Restart         Restart
	BackoffInitial  time.Duration // first delay; 0 allowed (restart at once)
	BackoffMax      time.Duration // cap
	BreakerMax      int           // more than BreakerMax automatic restarts inside BreakerWindow opens the breaker; 0 = no breaker
	BreakerWindow   time.Duration
	BreakerCooldown time.Duration // 0 = stays open until an operator starts the worker
	StableAfter     time.Duration // a run at least this long resets the failure streak; 0 means use max(BackoffMax, 10s)
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

// Validate reports configuration that Decide would silently clamp, so the
// operator hears about it when loading the config rather than from odd
// restart timing later.
func (s Spec) Validate() error {
	var errs []error
	if !s.Restart.valid() {
		errs = append(errs, fmt.Errorf("policy: unknown restart mode %q", s.Restart))
	}
	if s.BackoffInitial < 0 {
		errs = append(errs, fmt.Errorf("policy: negative initial backoff %s", s.BackoffInitial))
	}
	if s.BackoffMax < s.BackoffInitial {
		errs = append(errs, fmt.Errorf("policy: maximum backoff %s below initial backoff %s", s.BackoffMax, s.BackoffInitial))
	}
	if s.BreakerMax < 0 {
		errs = append(errs, fmt.Errorf("policy: negative breaker limit %d", s.BreakerMax))
	}
	if s.BreakerMax > 0 && s.BreakerWindow <= 0 {
		errs = append(errs, fmt.Errorf("policy: breaker limit %d needs a positive window, got %s", s.BreakerMax, s.BreakerWindow))
	}
	if s.BreakerCooldown < 0 {
		errs = append(errs, fmt.Errorf("policy: negative breaker cooldown %s", s.BreakerCooldown))
	}
	if s.StableAfter < 0 {
		errs = append(errs, fmt.Errorf("policy: negative stable-after %s", s.StableAfter))
	}
	return errors.Join(errs...)
}
