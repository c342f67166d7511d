// Package proc is tend's edge to the operating system for one incarnation
// of a worker: it spawns the process, tells which processes belong to it,
// signals them, reaps the leader exactly once, and rotates its output
// files.
//
// The supervisor calls this package outside its lock. Everything here may
// block on the kernel (fork, exec, wait, reading /proc), and nothing here
// knows about events, states or restart policy: results are returned to the
// caller, which turns them into events.
//
// # Contract
//
//   - Every worker runs in its own process group (Setpgid). With a cgroup
//     tree (Options.Cgroups) it also runs in a cgroup of its own, which it
//     is born into (clone3 with CLONE_INTO_CGROUP), so that nothing of it
//     ever runs outside. Which processes belong to an incarnation is then
//     the kernel's answer (cgroup.procs), and its end is cgroup.events'
//     populated 0, watched by inotify.
//   - Without cgroups, an incarnation is its leader's process group,
//     bounded by the leader's session and by time (cgroup.Leader.Owns):
//     no marker decides membership.
//   - Signals go through the leader's pidfd with
//     PIDFD_SIGNAL_PROCESS_GROUP while the leader is unreaped, so a
//     recycled pid can never be hit; with a cgroup every other member gets
//     the signal too, each pinned by a pidfd and checked, and SIGKILL is
//     cgroup.kill, which nothing escapes.
//   - A Process keeps the *os.Process (pidfd-backed), never a bare pid, and
//     is reaped exactly once by Wait.
//   - Standard output and error are O_APPEND files opened by Start, never
//     pipes: a worker must neither block nor die of SIGPIPE when the daemon
//     is gone. Wait closes the daemon's copies of those files exactly once.
//     They are opened and rotated through supervisor/logfile, which follows
//     no link, FIFO or hard link a worker could have planted in their way.
//   - Start appends TEND_WORKER and TEND_INCARNATION to the environment.
//     They serve only without cgroups, to find descendants that left the
//     process group (setsid, double fork) among the daemon's own orphans,
//     and processes an earlier daemon left behind in a session only tend's
//     daemons' descendants can be in. A process outside those, whatever it
//     copies into its environment, is never taken for a worker's.
//   - A worker inherits exactly its stdin, stdout and stderr: every other
//     descriptor of the daemon gets close-on-exec before the worker's
//     exec, including those the daemon inherited or C code opened.
//   - What Go's fork cannot set in the child comes from elsewhere, and
//     only for the Specs that ask for it: no_new_privs and a umask from a
//     thread set aside to fork with them (the child copies both from the
//     forking thread); resource limits from the launcher stage, package
//     launch, which costs an exec of the daemon's binary on the spawn
//     path.
//
// # What this package does not do
//
//   - It never kills workers on its own: Close stops the Spawner's
//     goroutines and leaves workers running, because workers must outlive
//     the daemon. It sets no Pdeathsig for the same reason (and because
//     Pdeathsig fires when the spawning OS thread exits, not the daemon).
//   - It never calls Wait4(-1): that would steal the exit status of
//     children owned by os.Process. The subreaper reaps orphans by explicit
//     pid only. It never reaps a child recorded in package children
//     (worker leaders and hooks Start spawned, health probes, output
//     relays, alert commands), and it leaves a zombie in the daemon's own
//     process group to its owner for ReapGrace before it takes it as an
//     orphan. As a subreaper, and as PID 1 of a container, the daemon
//     reaps every other zombie that becomes its child.
//   - It does not log, retry, restart, or decide anything.
//   - It imports nothing from the rest of tend but its launcher stage,
//     supervisor/logfile, supervisor/cgroup and supervisor/children.
//
// # Caveats
//
// Output rotation is copy-then-truncate because the worker holds the file
// open and writes to it directly (see logfile.Rotate). Lines written
// between the copy and the truncate are lost; the window is one copy of at
// most LogBackups × LogMaxSize bytes. Files are checked every RotateEvery,
// and a worker can write as much as it likes in between. With cgroups a
// check is skipped while the subtree's CPU counter stands still, at most
// seven in a row: what a process outside the subtree writes into a
// worker's file is seen late, within 64 RotateEvery.
//
// What the process-group rule cannot see, and a cgroup can: a descendant
// that left the process group (setpgid, setsid) and cleared its
// environment is invisible; one that kept its markers is found only once
// it is the daemon's orphan (its parent gone) or, for an incarnation
// adopted from an earlier daemon, only while it stays in the leader's
// session.
package proc
