// Package cgroup gives every worker incarnation a cgroup of its own on the
// cgroup v2 hierarchy, so that which processes belong to it is the
// kernel's answer: exact, whatever the processes do with their
// environment, session or process group, and out of reach of a worker that
// does not run as root. Where no cgroup can be written it holds the rule
// that replaces it (Leader.Owns) and says why (UnavailableError).
//
// # Layout
//
// One daemon owns one subtree, named after its instance (InstanceID of its
// log path), and touches nothing else:
//
//	<base>/tend-<instance>/                         the subtree, 0755 root
//	<base>/tend-<instance>/<worker>.<inc>/          one incarnation
//	<base>/tend-<instance>/<worker>.<inc>.<hook>/   a hook run for it (NewHook)
//	<base>/tend-<instance>/supervisor/              the daemon, only if it had to move
//
// The base is where the daemon was given the right to write:
//
//   - the root of the hierarchy (ModeRoot): a host whose cgroup2 hierarchy
//     has no manager, such as a hybrid host that mounts it at
//     /sys/fs/cgroup/unified beside v1 (there cgroup.kill, cgroup.procs,
//     cgroup.events and cpu.stat work, and memory, cpu and pids are bound
//     to v1);
//   - the root of the daemon's own cgroup namespace (ModeNamespace): a
//     container;
//   - the daemon's own cgroup when it was delegated (ModeDelegated):
//     systemd Delegate=yes, recognised by the trusted.delegate xattr
//     (systemd 251 and later), by ownership for a non-root daemon, or by
//     Options.Delegated. Anything else, a login session or a unit
//     without delegation, is refused as NotDelegated.
//
// To enable controllers for workers in a base that holds processes, the
// kernel's "no internal processes" rule makes the daemon move itself into
// <subtree>/supervisor first; Open does that only when it is needed.
//
// # Contract for the spawner (supervisor/proc)
//
//  0. `tend check`: Probe says, changing nothing, what Open would do.
//  1. At start: tree, err := Open(InstanceID(logPath), opts). On
//     errors.Is(err, ErrUnavailable), log err (its text is the reason for
//     `tend status`, `tend check` and the start event) and keep the
//     process-group rule. Otherwise log tree.Info().
//  2. Spawn: g, err := tree.New(worker, inc); g.SetLimits(...) if any;
//     SysProcAttr{Setpgid: true, UseCgroupFD: true, CgroupFD: g.FD()};
//     start; g.CloseFD(). If the start fails, g.Remove(). Keep Setpgid:
//     group signals stay the fast path while the leader lives.
//  3. Right after a spawn, tree.Prepare(worker, inc+1) may take the mkdir
//     of the next incarnation off the restart path (see Costs).
//  4. Leader exit: the pidfd tells it, as now. Then g.Signal(stopSignal)
//     to whatever is left, wait on g.Empty() up to stop_timeout, then
//     g.Kill() and wait on g.Empty() again. g.Populated() replaces
//     GroupAlive, Strays and the environment markers; nothing scans /proc.
//  5. Stop: g.Signal(stopSignal) reaches every member, including those
//     that left the process group; g.Kill() after stop_timeout. A
//     caller that signals the leader's process group itself (through the
//     leader's pidfd) uses g.SignalExcept(stopSignal, leaderPID) for the
//     rest, so that no member gets the signal twice.
//  6. Removal: g.Remove() once Empty is closed and the exit is logged.
//  7. Recovery after a daemon crash: tree.List() gives every incarnation
//     group with its members. Adopt (tree.Adopt) those of incarnations the
//     log knows as running; for the others Kill, wait for Empty, Remove.
//     Then tree.RemoveEmpty() deletes empty leftovers.
//  8. Exit: tree.Close() always; tree.Remove() first when every worker was
//     stopped, so no empty subtree is left behind (tests start many
//     daemons, each with a subtree of its own).
//  9. Sampling: g.Usage() gives CPU always and memory where the memory
//     controller is enabled; otherwise sum RSS over g.AppendProcs.
//  10. Limits where the controllers are enabled: Limits (memory.max,
//     memory.high, memory.oom.group, cpu.max, pids.max), and
//     Options.OnOOM for OOM kills.
//
// # What this package does not do
//
//   - It imports nothing of tend's, decides nothing, logs nothing, and
//     never kills on its own: Close leaves every group and process as it
//     is, because workers outlive the daemon.
//   - It never writes cgroup.procs of a worker (migration stalls for an RCU
//     grace period, and a worker born outside its group could fork first):
//     workers are born inside with clone3 CLONE_INTO_CGROUP.
//   - It touches no cgroup it did not create, except enabling controllers
//     in the base's cgroup.subtree_control and moving the daemon itself.
//   - It scans no /proc: Leader.Owns is a pure rule over a parsed stat.
//
// # Costs
//
// Measured with BenchmarkSpawn on a 2-vCPU VM (Linux 6.18) shared with other
// work, medians of five runs of 400 spawns of /bin/true: mkdir of a group
// 26-47 µs, open 8-13 µs, rmdir 9-12 µs, Group.Remove 28-66 µs (after the
// exit, off the restart path). A plain spawn took 1.4 ms back to back and
// 1.6 ms with a 10 ms pause before each; New plus a spawn into the new group
// took 0.1 ms more back to back and 0.2-0.3 ms more with pauses. Most of
// that is not mkdir: the first fork into an empty cgroup makes the kernel
// announce the populated change on cgroup.events, which wakes a kworker on
// the forking CPU while the spawning thread waits for its child. New
// announces a change of its own beforehand (preannounce), so that the
// fork's announcement is deferred by the kernel's rate limit; back to back
// that took the extra cost from 0.44 ms to 0.12 ms. Prepare takes the mkdir
// off the restart path, not the rest.
//
// # Caveats
//
//   - A worker running as root can leave its group (by writing its pid to
//     another cgroup.procs) or make cgroups inside it: nothing confines
//     root. Procs lists only the group's own members; Kill and Populated
//     cover nested cgroups; Remove deletes them.
//   - Kernels 5.7 to 5.13 have no cgroup.kill: Kill freezes the group,
//     SIGKILLs every member and thaws it.
//   - memory.current counts page cache and kernel memory, so it is higher
//     than the members' RSS the process-group sampler adds up.
//   - The OOM report carries the kill count, not the victim: the kernel
//     does not write the victim's pid into memory.events.
package cgroup
