// Package launch is the first stage of a confined worker. Go gives no hook
// in the child between fork and exec, and its SysProcAttr has no umask,
// resource limits or no_new_privs. So the daemon starts its own binary
// again (/proc/self/exe, with the argument Arg), that process applies what
// must be set inside the child, and then execs the worker's program in
// place: the pid, the process group and the start time are the worker's,
// and nothing of the launcher stays behind. runc's init and s6's chain
// loading work the same way.
//
// Both ends of the exchange live here. Start (the daemon) hands the
// launcher its Config over a socket, never through argv, which any local
// user can read, nor through the environment, which the dynamic loader and
// the Go runtime of the launcher would act on (LD_PRELOAD naming a file
// the worker's user can write would otherwise run as root). The launcher
// runs with an environment of its own (two settings of its Go runtime)
// and, in this order:
//
//  1. reads the Config;
//  2. sets close-on-exec on every descriptor from 3 up, its end of the
//     socket included, so the program starts with exactly the
//     descriptors the daemon gave it on purpose;
//  3. sets the umask and the resource limits, as root, so a hard limit
//     may be raised above the daemon's as systemd allows;
//  4. drops to the worker's groups, gid and uid (on its own thread only:
//     the exec that follows ends every other thread);
//  5. changes to the working directory, as the worker's user, as Go's
//     own fork does;
//  6. sets no_new_privs;
//  7. execs the program with the worker's environment.
//
// A failed step is written back on the socket (which step, and the errno)
// and the launcher exits with ExitFailed; Start returns it as an *Error,
// and the daemon records a failed spawn, never an exit of the worker. The
// launcher also writes one byte just before it execs: a launcher that died
// before saying anything (killed, or its runtime failed) is told apart from
// a program that ran, so its end is a failed spawn as well.
//
// # Wiring
//
// Every binary that starts workers through the launcher must call Main
// first thing in main (cmd/tendd does; test binaries do through
// proctest.Main). Start refuses with ErrNotWired in a binary that never
// called it, rather than run that binary's main with the launcher's
// arguments.
//
// # What this package does not do
//
// It decides nothing: which workers need the launcher, and with what, is
// its caller's choice (package proc takes it only for resource limits,
// which belong to the whole process; see proc's forkThreads for the
// rest). It does not log, and it imports nothing of tend's.
//
// # Cost
//
// The launcher is a second start of the daemon's binary: the Go runtime
// and every package's init run before Main does. For the tend binary that
// is many times a plain fork and exec (BenchmarkStartWaitLaunched in
// package proc against BenchmarkStartWait), paid on each spawn of a worker
// with resource limits.
package launch
