package proc

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/tendhq/tend/supervisor/cgroup"
	"github.com/tendhq/tend/supervisor/proc/launch"
)

// Spec describes one incarnation of a worker. The caller builds it
// completely (environment included); Start only adds the markers.
type Spec struct {
	Worker      string
	Incarnation uint64
	// Command is the argv. Command[0] is resolved with exec.LookPath (the
	// daemon's PATH) when it contains no slash.
	Command []string
	Dir     string
	// Env is the full environment as "K=V". Start appends
	// TEND_WORKER=<Worker> and TEND_INCARNATION=<Incarnation>.
	Env []string
	// Credential, when set, requires the daemon to run as root.
	Credential *syscall.Credential

	// Umask and NoNewPrivs are copied by the child from the thread that
	// forks it (see forkThreads), at the cost of a plain spawn. Rlimits
	// belong to the whole process: a Spec with any is started through the
	// launcher stage (package launch), which sets everything in the child
	// between fork and exec and costs an exec of the daemon's binary more.
	//
	// Umask is the file mode creation mask; nil keeps the daemon's.
	Umask *uint32
	// NoNewPrivs sets PR_SET_NO_NEW_PRIVS: neither the program nor anything
	// it execs can gain privileges through setuid bits or file
	// capabilities.
	NoNewPrivs bool
	// Rlimits are set before the switch to Credential, so a hard limit may
	// be raised above the daemon's.
	Rlimits []Rlimit
	// Stdout and Stderr are file paths opened O_WRONLY|O_CREATE|O_APPEND
	// 0640, their parent directories created 0750, by logfile.OpenAppend:
	// a link, FIFO, hard link or file of another user planted there is
	// refused (logfile.ErrUnsafe). "" means /dev/null. The same path for
	// both shares one open file, so lines interleave in order.
	Stdout, Stderr string
	// Output, when set, is both stdout and stderr instead (a hook's pipe,
	// whose output the daemon reads); Stdout and Stderr are not opened. It
	// stays the caller's to close.
	Output *os.File
	// Files are more descriptors the worker gets on purpose, by number (3
	// and up: its readiness channel; 1 or 2 replace the output named by
	// Stdout or Stderr, which should then be "": a pipe to the daemon's
	// console): every other descriptor of the daemon stays closed to it.
	// They stay the caller's to close.
	Files map[int]*os.File
	// LogMaxSize is the size in bytes above which output files are rotated;
	// 0 never rotates. LogBackups is how many rotated copies are kept, each
	// of at most LogMaxSize bytes.
	LogMaxSize int64
	LogBackups int
	// CgroupLimits are kernel-enforced limits written into the
	// incarnation's cgroup before the spawn, so it is born limited. They
	// need a Spawner with cgroups whose tree enables the controllers
	// (ErrNoCgroup, cgroup.ErrNoController otherwise).
	CgroupLimits cgroup.Limits
	// Beside marks a process that runs beside an incarnation rather than as
	// one (a hook), in a process group of its own. With cgroups, a hook
	// (Hook set) gets a group of its own named for it, which it is killed
	// by and a later daemon finds it by; anything else Beside stays in the
	// daemon's group.
	Beside bool
	// Hook names the hook a Beside process is.
	Hook HookID
}

// HookID names a hook: its kind (pre_start, post_stop, ...) and the
// incarnation it runs for.
type HookID struct {
	Kind        string
	Incarnation uint64
}

// Rlimit is one resource limit (RLIMIT_NOFILE, ...); launch.Infinity is
// no limit.
type Rlimit = launch.Rlimit

// launched reports whether the Spec needs the launcher stage.
func (s *Spec) launched() bool { return len(s.Rlimits) > 0 }

// Environment markers that Start adds to every worker. They are how
// descendants that escaped the process group are recognised.
const (
	EnvWorker      = "TEND_WORKER"
	EnvIncarnation = "TEND_INCARNATION"
)

// markers returns the two environment entries identifying an incarnation.
func markers(worker string, inc uint64) (string, string) {
	return EnvWorker + "=" + worker, fmt.Sprintf("%s=%d", EnvIncarnation, inc)
}

// Identity pins a process across daemon restarts: a pid alone can be
// reused, a pid with its start time and the boot it happened in cannot.
type Identity struct {
	PID int
	// StartTicks is field 22 of /proc/PID/stat (clock ticks after boot).
	StartTicks uint64
	// BootID is /proc/sys/kernel/random/boot_id.
	BootID string
}

// ErrNeedRoot is returned by Start when a Spec carries a Credential and the
// daemon is not root: switching user needs CAP_SETUID/CAP_SETGID and the
// kernel's EPERM from inside the fork would not say why.
var ErrNeedRoot = errors.New("proc: credential requires the daemon to run as root")

// ErrNoCgroup is returned by Start for a Spec with CgroupLimits when the
// Spawner tracks processes by process group.
var ErrNoCgroup = errors.New("proc: kernel-enforced limits need cgroup tracking")

// ErrClosed is returned by Start after the Spawner was closed.
var ErrClosed = errors.New("proc: spawner closed")

// StartError reports a failed spawn of one incarnation. Unwrap reaches the
// underlying error, so errors.As(err, &errno) yields the syscall.Errno
// (ENOENT, EACCES, ...) when there is one.
type StartError struct {
	Worker      string
	Incarnation uint64
	Err         error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("proc: start %q incarnation %d: %v", e.Worker, e.Incarnation, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }
