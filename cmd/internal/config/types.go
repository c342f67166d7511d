package config

import (
	"syscall"
	"time"

	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
)

// Config is one parsed configuration file with every default filled in.
// A Config is never modified after Parse returns it.
type Config struct {
	Path    string // absolute path of the file
	Hash    string // hex SHA-256 of the file bytes; in memory only, see Worker.Hash
	Daemon  Daemon
	Export  Export    // [export]
	Notify  []*Notify // [[notify]], in file order
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

// Values of Daemon.ProcessTracking.
const (
	TrackingAuto   = "auto"   // a cgroup per incarnation where one can be written, else process groups
	TrackingCgroup = "cgroup" // a cgroup per incarnation, or the daemon refuses to start
	TrackingPgroup = "pgroup" // process groups only
)

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

	// Policy is the restart policy: the keys restart, backoff_initial,
	// backoff_max and circuit_*, each a field of policy.Spec.
	Policy policy.Spec

	StartTimeout time.Duration
	StopTimeout  time.Duration
	StopSignal   syscall.Signal
	// OnLeaderExit is what happens to the rest of an incarnation when its
	// main process exits: core.StopRest or core.Leave.
	OnLeaderExit core.LeaderExit

	Stdout     string
	Stderr     string
	LogMaxSize int64 // 0: never rotate
	LogBackups int
	// AllowSharedOutputDir accepts output directories that users other
	// than root and the worker can write (see Validate).
	AllowSharedOutputDir bool

	Health *health.Spec // nil when absent
	Limits *limits.Spec // nil when absent

	// Oneshot: type = "oneshot", a job that runs to completion.
	Oneshot bool
	// Ready is how it says it is ready (ready, ready_timeout, watchdog).
	Ready core.Readiness
	// DependsOn is what it needs before it starts, sorted by name.
	DependsOn []core.Dep
	// Schedule is when it runs on its own; nil: never.
	Schedule *Schedule

	// Hash is the hex SHA-256 of the worker's normalized settings: two
	// workers have equal hashes iff their effective configuration is equal,
	// whatever the key order, comments or line numbers in the file.
	// It covers env values and is unkeyed, so anyone holding it can test
	// a guess of a secret: it stays in memory. What the log records is the
	// log's keyed digest of it (store.Log.Digest).
	Hash string
}

// Rlimit is one key of a [worker.NAME.rlimits] table.
type Rlimit struct {
	Name       string // "nofile", "nproc", "core", ...
	Resource   int    // unix.RLIMIT_NOFILE, ...
	Soft, Hard uint64 // RlimitInfinity for "infinity"
}
