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
// It may not import anything of tend's but the record of the daemon's
// children (supervisor/children, so the orphan reaper leaves its probes
// alone), decide what unhealthy means for the
// worker (restart, stop, log: that is the supervisor's policy), touch the
// worker's own processes, or run more than one probe at a time per Run.
package health
