package config

import (
	"syscall"
	"time"
)

// Config is one parsed configuration file with every default filled in.
// A Config is never modified after Parse returns it.
type Config struct {
	Path    string // absolute path of the file
	Hash    string // hex SHA-256 of the file bytes; in memory only, see Worker.Hash
	Daemon  Daemon
	Workers map[string]*Worker
	Order   []string // worker names, sorted

	// file and lines let Validate report host problems at the line of the
	// offending key even though it runs after parsing.
	file  string
	lines lineIndex
}

// Daemon holds the [daemon] table.
type Daemon struct {
	StateDir       string
	Socket         string
	SocketGroup    string
	LogLevel       string
	MetricsListen  string // empty: metrics off
	SupervisorRPC  string // empty: off
	LeaveRunning   bool
	SampleInterval time.Duration

	// MetricsWebConfig is an exporter-toolkit web configuration file for
	// the metrics listener (TLS, basic auth); empty: plain HTTP.
	MetricsWebConfig string

	// LogCheckInterval is how often every worker's output files are
	// checked against their log_max_size.
	LogCheckInterval time.Duration

	// ProcessTracking is how the daemon tells which processes belong to a
	// worker incarnation: TrackingAuto, TrackingCgroup or TrackingPgroup.
	ProcessTracking string
}

// Worker holds one [worker.NAME] table.
type Worker struct {
	Name string
	Line int // line of the [worker.NAME] header

	Command   []string
	Dir       string // empty: the daemon decides
	Env       map[string]string
	User      string
	Group     string
	Autostart bool

	// ClearEnv starts the worker from a clean environment instead of the
	// daemon's: only a default PATH, the user's login variables, Env and
	// tend's own markers.
	ClearEnv bool
	// NoNewPrivileges sets no_new_privs on the worker. Default: true when
	// User is set.
	NoNewPrivileges bool
	// Umask is the worker's file mode creation mask; -1 keeps the
	// daemon's.
	Umask int
	// Rlimits are the worker's resource limits, sorted by name; nil when
	// the worker keeps the daemon's.
	Rlimits []Rlimit

	Restart         string // RestartAlways, RestartOnFailure or RestartNever
	StartTimeout    time.Duration
	StopTimeout     time.Duration
	BackoffInitial  time.Duration
	BackoffMax      time.Duration
	CircuitWindow   time.Duration
	CircuitCooldown time.Duration // 0: the breaker stays open until an operator starts the worker

	StopSignal         syscall.Signal
	CircuitMaxRestarts int // 0: breaker off
	// OnLeaderExit is what happens to the rest of an incarnation when its
	// main process exits: LeaderExitStopRest or LeaderExitLeave.
	OnLeaderExit string

	Stdout     string
	Stderr     string
	LogMaxSize int64 // 0: never rotate
	LogBackups int
	// AllowSharedOutputDir accepts output directories that users other
	// than root and the worker can write (see Validate).
	AllowSharedOutputDir bool

	Health *Health // nil when absent
	Limits *Limits // nil when absent

	// Hash is the hex SHA-256 of the worker's normalized settings: two
	// workers have equal hashes iff their effective configuration is equal,
	// whatever the key order, comments or line numbers in the file.
	// It covers env values and is unkeyed, so anyone holding it can test
	// a guess of a secret: it stays in memory. What the log records is the
	// log's keyed digest of it (store.Log.Digest).
	Hash string
}

// Health holds a [worker.NAME.health] table.
type Health struct {
	Type     string   // HealthExec, HealthTCP or HealthHTTP
	Command  []string // exec only
	Address  string   // tcp only
	URL      string   // http only
	Interval time.Duration
	Timeout  time.Duration
	Grace    time.Duration
	Failures int
}

// Limits holds a [worker.NAME.limits] table.
type Limits struct {
	Memory       uint64  // bytes; 0: no memory limit
	CPU          float64 // percent of one core; 0: no CPU limit
	Sustained    time.Duration
	MemoryPolicy string // PolicyLog, PolicyRestart, PolicyStop or PolicyKill
	CPUPolicy    string

	// Kernel-enforced limits, written into the incarnation's cgroup
	// before it is spawned; 0 leaves each unset. They need cgroup
	// tracking and the controller named (KernelLimitControllers).
	MemoryMax  uint64  // bytes (memory.max): past it the kernel reclaims, then OOM-kills in the group
	MemoryHigh uint64  // bytes (memory.high): past it the group is throttled and reclaimed, never killed
	CPUMax     float64 // percent of one core (cpu.max): 150 is one and a half cores
	PidsMax    int     // processes and threads (pids.max): a fork past it fails
}

// KernelLimitControllers lists, in a fixed order, each kernel-enforced
// limit that l sets with its key and the cgroup controller it needs.
func (l *Limits) KernelLimitControllers() [][2]string {
	if l == nil {
		return nil
	}
	var out [][2]string
	if l.MemoryMax > 0 {
		out = append(out, [2]string{"memory_max", "memory"})
	}
	if l.MemoryHigh > 0 {
		out = append(out, [2]string{"memory_high", "memory"})
	}
	if l.CPUMax > 0 {
		out = append(out, [2]string{"cpu_max", "cpu"})
	}
	if l.PidsMax > 0 {
		out = append(out, [2]string{"pids_max", "pids"})
	}
	return out
}

// Rlimit is one key of a [worker.NAME.rlimits] table.
type Rlimit struct {
	Name       string // "nofile", "nproc", "core", ...
	Resource   int    // unix.RLIMIT_NOFILE, ...
	Soft, Hard uint64 // RlimitInfinity for "infinity"
}

// Values of Worker.Restart.
const (
	RestartAlways    = "always"
	RestartOnFailure = "on-failure"
	RestartNever     = "never"
)

// Values of Daemon.ProcessTracking.
const (
	TrackingAuto   = "auto"   // a cgroup per incarnation where one can be written, else process groups
	TrackingCgroup = "cgroup" // a cgroup per incarnation, or the daemon refuses to start
	TrackingPgroup = "pgroup" // process groups only
)

// Values of Worker.OnLeaderExit.
const (
	LeaderExitStopRest = "stop-rest"
	LeaderExitLeave    = "leave"
)

// Values of Health.Type.
const (
	HealthExec = "exec"
	HealthTCP  = "tcp"
	HealthHTTP = "http"
)

// Values of Limits.MemoryPolicy and Limits.CPUPolicy.
const (
	PolicyLog     = "log"
	PolicyRestart = "restart"
	PolicyStop    = "stop"
	PolicyKill    = "kill"
)
