package config

import (
	"syscall"
	"time"
)

// Config is one parsed configuration file with every default filled in.
// A Config is never modified after Parse returns it.
type Config struct {
	Path    string // absolute path of the file
	Hash    string // hex SHA-256 of the file bytes
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
	// LogCheckInterval is how often every worker's output files are
	// checked against their log_max_size.
	LogCheckInterval time.Duration
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

	Restart         string // RestartAlways, RestartOnFailure or RestartNever
	StartTimeout    time.Duration
	StopTimeout     time.Duration
	BackoffInitial  time.Duration
	BackoffMax      time.Duration
	CircuitWindow   time.Duration
	CircuitCooldown time.Duration // 0: the breaker stays open until an operator starts the worker

	StopSignal         syscall.Signal
	CircuitMaxRestarts int // 0: breaker off

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
}

// Values of Worker.Restart.
const (
	RestartAlways    = "always"
	RestartOnFailure = "on-failure"
	RestartNever     = "never"
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
