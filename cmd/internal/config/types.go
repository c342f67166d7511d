package config

import (
	"syscall"
	"time"

	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/envfile"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
)

// Config is one parsed configuration file with every default filled in.
// A Config is never modified after Load (or Parse) returns it.
type Config struct {
	Path    string // absolute path of the file
	Hash    string // hex SHA-256 of the file bytes; in memory only, see Worker.Hash
	Daemon  Daemon
	Export  Export    // [export]
	Notify  []*Notify // [[notify]], in file order
	Workers map[string]*Worker
	Order   []string // worker names, sorted
	// Templates are the workers with instances = N, by name; their
	// instances are in Workers (NAME@1 … NAME@N).
	Templates map[string]*Template

	// Files are the absolute paths of the files included (include), in
	// the order they were read; IncludeDirs the directories their
	// patterns are matched in. Both, and the file itself, must be
	// trusted (TrustPaths).
	Files       []string
	IncludeDirs []string

	// src lets Validate report host problems at the file and line of the
	// offending key even though it runs after parsing.
	src *decoder
	// envVars is what each env file read by Load sets, by path (nil: a
	// missing optional file), for the exec size check.
	envVars map[string][]envfile.Var
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

	// ExitOn is when the daemon stops every worker and exits on its own
	// (exit_on; core.ExitNever by default).
	ExitOn core.ExitOn
	// ConsoleTimestamps starts each line that a worker with stdout or
	// stderr "-" writes to the daemon's own with its time (RFC 3339, UTC).
	ConsoleTimestamps bool
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

	// InstanceOf is the template an instance was made from (Templates),
	// and Instance its number (from 1); "" and 0 for a worker of its own.
	InstanceOf string
	Instance   int

	Command   []string
	Dir       string // empty: the daemon decides
	Env       map[string]string
	User      string
	Group     string
	Autostart bool

	// EnvFiles are read at each spawn (env_file), in order; what they set
	// wins over Env, a later file over an earlier one.
	EnvFiles []envfile.File
	// EnvFileSums fingerprint what each of EnvFiles set when the
	// configuration was loaded (envfile.Sum), so that Hash changes when
	// a file does. Like Hash, they are unkeyed hashes of what may be
	// secrets: in memory only. Parse leaves them nil; Load fills them in.
	EnvFileSums []string

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

	// Stdout and Stderr are file paths, or Console ("-"): the daemon's own
	// stdout or stderr, each line prefixed with the worker's name.
	Stdout     string
	Stderr     string
	LogMaxSize int64 // 0: never rotate
	LogBackups int
	// AllowSharedOutputDir accepts output directories that users other
	// than root and the worker can write (see Validate).
	AllowSharedOutputDir bool
	// Output is how the files are written: OutputFile or "" (the worker
	// writes them itself) or OutputRelay (a relay process holds its pipes, stamps
	// each line, writes and rotates the files).
	Output string
	// LogMaxAge rotates a relay's file older than this at its next line
	// (0: never); LogCompress gzips the relay's rotated files.
	LogMaxAge   time.Duration
	LogCompress bool

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

	// ReloadSignal is what `tend reload NAME` sends it (reload_signal);
	// 0: a reload restarts it.
	ReloadSignal syscall.Signal
	// Hooks are pre_start, post_start, stop_command and post_stop, and
	// HookTimeout bounds each (hook_timeout).
	Hooks       Hooks
	HookTimeout time.Duration

	// Hash is the hex SHA-256 of the worker's normalized settings: two
	// workers have equal hashes iff their effective configuration is equal,
	// whatever the key order, comments or line numbers in the file.
	// It covers env values and is unkeyed, so anyone holding it can test
	// a guess of a secret: it stays in memory. What the log records is the
	// log's keyed digest of it (store.Log.Digest).
	Hash string
}

// TableName is the name of the [worker.NAME] table w is written in: its
// template's for an instance, else its own.
func (w *Worker) TableName() string {
	if w.InstanceOf != "" {
		return w.InstanceOf
	}
	return w.Name
}

// The values of output.
const (
	OutputFile  = "file"
	OutputRelay = "relay"
)

// Console is the value of stdout and stderr that sends a worker's output
// to the daemon's own stdout and stderr, line by line.
const Console = "-"

// Rlimit is one key of a [worker.NAME.rlimits] table.
type Rlimit struct {
	Name       string // "nofile", "nproc", "core", ...
	Resource   int    // unix.RLIMIT_NOFILE, ...
	Soft, Hard uint64 // RlimitInfinity for "infinity"
}
