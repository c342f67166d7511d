// Package proc is tend's edge to the operating system for one incarnation
// of a worker: it spawns the process, signals its process group, reaps it
// exactly once, finds its escaped descendants, and rotates its output files.
//
// The supervisor calls this package outside its lock. Everything here may
// block on the kernel (fork, exec, wait, reading /proc), and nothing here
// knows about events, states or restart policy: results are returned to the
// caller, which turns them into events.
//
// # Contract
//
//   - Every worker runs in its own process group (Setpgid) and is signalled
//     as a group: through the leader's pidfd with PIDFD_SIGNAL_PROCESS_GROUP
//     while the leader is unreaped, so a recycled pid can never be hit.
//   - A Process keeps the *os.Process (pidfd-backed), never a bare pid, and
//     is reaped exactly once by Wait.
//   - Standard output and error are O_APPEND files opened by Start, never
//     pipes: a worker must neither block nor die of SIGPIPE when the daemon
//     is gone. Wait closes the daemon's copies of those files exactly once.
//     They are opened and rotated through supervisor/logfile, which follows
//     no link, FIFO or hard link a worker could have planted in their way.
//   - Start appends TEND_WORKER and TEND_INCARNATION to the environment, so
//     descendants that leave the group (setsid, double fork) can still be
//     found through /proc/PID/environ.
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
//     pid only. It never reaps an unreaped worker leader, and it leaves a
//     zombie in the daemon's own process group, or leading a group in the
//     daemon's session, to its owner for ReapGrace before it takes it as
//     an orphan: other parts of the daemon may run short-lived children
//     (probes) as long as they leave them in the daemon's group and reap
//     them as they exit. As a subreaper, and as PID 1 of a container, the
//     daemon reaps every other zombie that becomes its child.
//   - It does not log, retry, restart, or decide anything.
//   - It imports nothing from the rest of tend but its launcher stage.
//
// # Caveats
//
// Output rotation is copy-then-truncate because the worker holds the file
// open and writes to it directly (see logfile.Rotate). Lines written
// between the copy and the truncate are lost; the window is one copy of at
// most LogBackups × LogMaxSize bytes. Files are checked every RotateEvery,
// and a worker can write as much as it likes in between.
//
// After the leader has been reaped, group signals fall back to
// kill(-pgid). The kernel keeps a process group id allocated while any
// member is alive, so this only reaches the old group, but a caller should
// stop signalling once GroupAlive reports false.
package proc
