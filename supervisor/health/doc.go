// Package health runs one worker incarnation's health check: an exec, TCP or
// HTTP probe repeated every Interval after a Grace period, turned into at most
// two kinds of Report (the failure threshold was reached; the worker recovered).
//
// The supervisor starts Run with the incarnation's context and a report
// callback that stamps the incarnation, and cancels the context when the
// incarnation ends. Run then returns promptly and leaves nothing behind: no
// goroutine, no probe process (each exec probe runs in its own process group,
// which is killed and its leader reaped), no connection.
//
// Spec is the check as the configuration file states it, and this package
// owns it: the probe types, the fields (each tagged with its key in the
// file) and what makes a Spec valid (Validate, whose FieldErrors never repeat
// a value). cmd/internal/config decodes the [worker.NAME.health] table
// straight into a Spec and reports each FieldError at its key and line; it
// owns only what is about the file: the defaults of the keys left out, and the
// bounds that refuse a value as a likely typo (an interval of a year).
//
// A new probe type is a Type constant, its row in probeTypes (the Spec field
// it checks, the check of that field's value, its prober) and the prober in
// a probe_*.go file of this package: the configuration file, tend check and
// the worker hash take it from there. Only a type that needs a field Spec
// does not have yet touches more: the field with its toml tag and its entry
// in targets here, and its key in cmd/internal/config's decoder and worker
// hash, whose tests fail until all are there.
//
// It may not import anything of tend's but the record of the daemon's
// children (supervisor/children, so the orphan reaper leaves its probes
// alone), decide what unhealthy means for the
// worker (restart, stop, log: that is the supervisor's policy), touch the
// worker's own processes, or run more than one probe at a time per Run.
package health
