// Package limits watches the memory and CPU of worker process groups and
// reports a Violation when a limit has been exceeded for long enough.
//
// Two layers, in the manner of a pure core and a thin shell:
//
//   - Tracker is pure: it reads no clock and does no I/O. It turns a series of
//     Samples into Violations (once per excursion over a limit, re-armed by a
//     sample at or under it), so it can be tested and replayed as data.
//   - Sampler is the shell: one goroutine per daemon, one tick per interval
//     for all watched groups.
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
// memory as well. CPU is in percent of one core over the interval between
// two ticks, from the second sample on.
//
// How a tick reads them, and what it costs (each system call is about a
// microsecond on a host with page-table isolation, a read of a small
// kernel file about 2.5 µs through a kept descriptor and 8 to 10 µs with
// an open and a close):
//
//   - Members with a CPU counter (every cgroup: cpu.stat usage_usec, kept
//     without the cpu controller). CPU is the counter's: the time of every
//     process the incarnation ever had, those that lived less than one
//     interval and those in cgroups a root worker made below its own
//     included. A process can fork, exit or touch its own memory only
//     while it runs, and running moves the counter; so the members are
//     listed (cgroup.procs) and each one's RSS read (/proc/PID/statm, one
//     open, read and close, no descriptor kept) only when the counter
//     moved, and every refreshMembers ticks besides, for what changes a
//     process without it running (reclaim, khugepaged, another process
//     writing into its memory, root moving a process in or out). Above
//     the counters of all incarnations is their subtree's (SharedCounter),
//     read first in each tick: while it stands still no worker ran, and
//     the tick reads nothing else. The counters are read before the
//     listing, so a process forked after it moves them for the next tick;
//     the kernel charges a running task's time at least every scheduler
//     tick, so a fork is listed at most one interval and a few
//     milliseconds late, as a listing every tick would list it one
//     interval late at worst. Each incarnation's counter is read through a
//     descriptor held open (CPUCounterFile) within the sampler's share of
//     the descriptor limit (fdShare: half of what is left after two per
//     watched incarnation), otherwise opened and closed.
//   - Members without a counter: listed every tick, each member's
//     /proc/PID/stat read through a descriptor kept open across ticks (it
//     fails with ESRCH once that process is gone, even if its pid is
//     reused); a process contributes CPU from its second sample on, so
//     children that live less than one interval are not counted.
//   - Process groups (Watch): /proc is listed once per tick, every process
//     mapped to its group, and each member's stat read through a kept
//     descriptor as above.
//
// A process that cannot be opened for want of descriptors is not taken for
// gone: the tick concludes nothing about its incarnation. gopsutil's
// per-process calls cost more than the budget, so they are not on this
// path; gopsutil supplies the clock tick rate.
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
