// Package limits watches the memory and CPU of worker process groups and
// reports a Violation when a limit has been exceeded for long enough.
//
// Two layers, in the manner of a pure core and a thin shell:
//
//   - Tracker is pure: it reads no clock and does no I/O. It turns a series of
//     Samples into Violations (once per excursion over a limit, re-armed by a
//     sample at or under it), so it can be tested and replayed as data.
//   - Sampler is the shell: one goroutine per daemon, one tick per interval
//     for all watched groups. Each tick lists /proc once, maps every process
//     to its group, and reads each member's /proc/PID/stat through a file
//     descriptor kept open across ticks (a kept-open stat fd also pins the
//     process: it fails with ESRCH once that process is gone, even if its pid
//     is reused). gopsutil's per-process calls cost more than the budget of
//     about 30 µs per worker per tick, so they are not on this path; gopsutil
//     supplies the clock tick rate.
//
// A Watch belongs to one worker incarnation: the supervisor passes that
// incarnation's context and a report callback that stamps the incarnation,
// and the registration ends when the context is done.
//
// Resource figures are summed over every live member of the incarnation:
// the processes its cgroup lists (WatchMembers: no walk of /proc, and a
// process that left the process group still counts), or else the processes
// whose pgid is the worker's leader pid (Watch). RSS is summed as the kernel
// counts it per process (shared pages count once per process that maps
// them), never read from memory.current, which counts page cache and kernel
// memory as well; CPU is user+system time over the interval between two
// ticks, in percent of one core. A process contributes CPU from its second
// sample on, so children that live less than one interval are not counted.
//
// Spec is the limits as the configuration file states them, and this package
// owns it: the policies, the fields (each tagged with its key in the file)
// and what makes a Spec valid (Validate, whose FieldErrors never repeat a
// value). cmd/internal/config decodes the [worker.NAME.limits] table straight
// into a Spec and reports each FieldError at its key and line; it owns only
// what is about the file: the default policy, and the bounds that refuse a
// value as a likely typo (cpu = 1e308).
//
// It may not import anything of tend's, act on a violation (the policy is
// carried, not applied: the supervisor decides), signal or otherwise touch
// the processes it watches, or start a goroutine per watched group.
package limits
