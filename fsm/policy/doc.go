// Package policy decides what happens after a worker's incarnation ends:
// restart it (and after how long), leave it stopped, or open the circuit
// breaker because it is restarting too often.
//
// Everything here is a pure function of (spec, history, exit, time, jitter).
// Worker state is rebuilt by replaying the event log, so a decision must come
// out the same every time it is recomputed. For that reason this package may
// NOT perform I/O, read the clock (time.Now), draw random numbers (math/rand),
// keep mutable package-level state, or import any other tend package. The
// caller reads the clock, draws the jitter, and records the resulting delay
// and streak in the log; replay reuses the recorded values instead of
// re-rolling them.
//
// No function panics on any input: negative durations, zero values, NaN
// jitter and absurd attempt counts are clamped rather than rejected. Use
// Spec.Validate at configuration time to report nonsense to the operator.
//
// Spec is the restart policy as the configuration file states it, and this
// package owns it: the restart modes, the fields (each tagged with its key in
// the worker's table) and what makes a Spec valid. cmd/internal/config
// decodes those keys straight into a Spec and reports each FieldError at its
// key and line; it owns only what is about the file: the defaults of the keys
// left out, and the bounds that refuse a value as a likely typo.
package policy
