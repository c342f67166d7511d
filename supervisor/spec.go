package supervisor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/cgroup"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/envfile"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
	"github.com/tendhq/tend/supervisor/proc"
)

// WorkerSpec is everything the supervisor needs to run one worker. The
// daemon builds it from the configuration.
type WorkerSpec struct {
	Name       string
	Command    []string
	Dir        string
	Env        map[string]string // added to BaseEnv; values never enter the log
	Credential *syscall.Credential
	// UserEnv holds the login variables (HOME, USER, LOGNAME, SHELL) of
	// the user the worker runs as; nil when it runs as the daemon's. Env
	// wins over it, and it over BaseEnv.
	UserEnv map[string]string
	// EnvFiles are read at each spawn, in order (envfile.Environ): what
	// they set wins over Env. A file that cannot be read fails the spawn.
	EnvFiles []envfile.File
	// Umask, NoNewPrivs and Rlimits are set in the child before exec; see
	// proc.Spec. Umask nil keeps the daemon's.
	Umask      *uint32
	NoNewPrivs bool
	// ClearEnv starts the environment from PATH=DefaultPath instead of
	// the supervisor's BaseEnv. (The bools are kept side by side: a spec
	// is kept for every worker, and each alone would take eight bytes.)
	ClearEnv bool
	Rlimits  []proc.Rlimit
	// Stdout and Stderr are file paths, or Console: the daemon's own
	// stdout or stderr through Config.Console.
	Stdout     string
	Stderr     string
	LogMaxSize int64
	LogBackups int
	// Relay: the output goes through a relay process that stamps each
	// line and writes and rotates the files itself (package relay), by
	// LogMaxSize, LogBackups, LogMaxAge, gzipped with LogCompress.
	Relay       bool
	LogCompress bool
	LogMaxAge   time.Duration

	StartTimeout time.Duration // a process that dies sooner is a failed start; 0: running once spawned
	StopSignal   syscall.Signal
	StopTimeout  time.Duration
	Policy       policy.Spec

	// OnLeaderExit: what happens to the rest of an incarnation when its
	// main process exits ("": stop it, core.StopRest).
	OnLeaderExit core.LeaderExit

	// InstanceOf and Instance: an instance of a worker with instances
	// (core.Spec); "" and 0 otherwise.
	InstanceOf string
	Instance   int

	// Start-up order (core decides with them): whether it starts with the
	// daemon, a one-shot job, its readiness rule, what it depends on, when
	// it runs on its own.
	Autostart bool
	Oneshot   bool
	Ready     core.Readiness
	Deps      []core.Dep
	Schedule  *core.Schedule

	Health *health.Spec
	Limits *limits.Spec
	// CgroupLimits are kernel-enforced limits for each incarnation's
	// cgroup (memory.max, memory.high, cpu.max, pids.max); zero for none.
	// They need a Spawner with cgroups.
	CgroupLimits cgroup.Limits

	// ReloadSignal is what a reload of the worker sends it; 0: a reload
	// restarts it.
	ReloadSignal syscall.Signal
	// Hooks are commands run around the worker's life, by kind
	// (fsm.HookPreStart, HookPostStart, HookStopCommand, HookPostStop),
	// each an argv like Command. They run as the worker does: its user,
	// directory, environment, umask, no_new_privs and resource limits.
	Hooks map[string][]string
	// HookTimeout bounds each hook: past it, its process group is killed
	// and it has failed.
	HookTimeout time.Duration

	// Hash identifies the worker's effective configuration: a reload
	// restarts the worker iff it changed. It is recorded in the log
	// (worker_added, worker_changed), so it must be keyed
	// (store.Log.Digest), never a plain hash of settings that include env
	// values.
	Hash string
}

// core is what core.Step needs of the settings.
func (w *WorkerSpec) core() *core.Spec {
	cs := &core.Spec{Name: w.Name, InstanceOf: w.InstanceOf, Instance: w.Instance, Digest: w.Hash, Autostart: w.Autostart, StartTimeout: w.StartTimeout,
		StopSignal: int(w.StopSignal), StopTimeout: w.StopTimeout, OnLeaderExit: w.OnLeaderExit, Policy: w.Policy,
		Oneshot: w.Oneshot, Ready: w.Ready, Deps: w.Deps, Schedule: w.Schedule, ReloadSignal: int(w.ReloadSignal)}
	for kind, cmd := range w.Hooks {
		if len(cmd) > 0 {
			if cs.Hooks == nil {
				cs.Hooks = make(map[string]time.Duration)
			}
			cs.Hooks[kind] = w.HookTimeout
		}
	}
	return cs
}

// SpecHash is a default Hash for specs built in code (tests). It hashes
// env values unkeyed: a daemon must not record it.
func (w *WorkerSpec) SpecHash() string {
	h := sha256.New()
	umask := int64(-1)
	if w.Umask != nil {
		umask = int64(*w.Umask)
	}
	fmt.Fprintf(h, "%q %q %v %q %q %d %d %v %v %v %v %v %+v %+v %+v %v %q %d %v %v %q %+v", w.Command, w.Dir, w.Credential,
		w.Stdout, w.Stderr, w.LogMaxSize, w.LogBackups, w.Autostart, w.StartTimeout, w.StopSignal,
		w.StopTimeout, w.Policy, w.Health, w.Limits, sortedEnv(w.Env),
		w.ClearEnv, sortedEnv(w.UserEnv), umask, w.NoNewPrivs, w.Rlimits, w.OnLeaderExit, w.CgroupLimits)
	if len(w.EnvFiles) > 0 {
		fmt.Fprintf(h, " %+v", w.EnvFiles)
	}
	if w.ReloadSignal != 0 || len(w.Hooks) > 0 {
		kinds := make([]string, 0, len(w.Hooks))
		for k := range w.Hooks {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		fmt.Fprintf(h, " %d %v", w.ReloadSignal, w.HookTimeout)
		for _, k := range kinds {
			fmt.Fprintf(h, " %s=%q", k, w.Hooks[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Console as a worker's Stdout or Stderr sends that output to the
// daemon's own stdout or stderr, each line prefixed with the worker's name.
const Console = "-"

// DefaultPath is the PATH of a worker with ClearEnv that sets none of its
// own: systemd's default for services.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// workerEnv is a worker's environment before tend's markers, from four
// sources, each later one winning: the daemon's environment (base) or,
// with ClearEnv, only PATH=DefaultPath; the login variables of the
// worker's user; the configured Env; what its env files set (files, as
// NAME=value). Each name appears once, where it first did: programs
// disagree about which of two entries counts (glibc's getenv and Go take
// the first, sh the last), so there must not be two.
func workerEnv(base []string, spec *WorkerSpec, files ...string) []string {
	out := make([]string, 0, len(base)+len(spec.UserEnv)+len(spec.Env)+len(files)+1)
	at := make(map[string]int, cap(out))
	set := func(kv string) {
		name := kv
		if i := strings.IndexByte(kv, '='); i >= 0 {
			name = kv[:i]
		}
		if i, ok := at[name]; ok {
			out[i] = kv
			return
		}
		at[name] = len(out)
		out = append(out, kv)
	}
	if spec.ClearEnv {
		set("PATH=" + DefaultPath)
	} else {
		for _, kv := range base {
			set(kv)
		}
	}
	for _, kv := range sortedEnv(spec.UserEnv) {
		set(kv)
	}
	for _, kv := range sortedEnv(spec.Env) {
		set(kv)
	}
	for _, kv := range files {
		set(kv)
	}
	return out
}

// spawnEnv is the environment of a spawn of spec, its env files read now
// (so a spawn sees the files as they are, as systemd's does), and the names
// it sets beyond base (for the spawned event: names, never values). An env
// file that cannot be read or parsed fails the spawn; the error names the
// file and line, never a value.
func spawnEnv(base []string, spec *WorkerSpec) (env, names []string, err error) {
	var files []string
	if len(spec.EnvFiles) > 0 {
		if files, err = envfile.Environ(spec.EnvFiles); err != nil {
			return nil, nil, fmt.Errorf("env_file: %w", err)
		}
	}
	names = envNames(spec.Env)
	for _, kv := range files {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	sort.Strings(names)
	return workerEnv(base, spec, files...), slices.Compact(names), nil
}

func sortedEnv(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func envNames(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k := range env {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Process is one running incarnation as the supervisor needs it. *proc.Process
// is the real one; property tests supply fakes.
type Process interface {
	PID() int
	Identity() proc.Identity
	Wait() proc.Exit
	// Signal sends sig to every process of the incarnation it can tell.
	Signal(sig syscall.Signal) error
	// SignalStrays reaches what Signal cannot (descendants that left the
	// process group, where there is no cgroup), and says how many.
	SignalStrays(sig syscall.Signal) (int, error)
	// Remaining counts the processes of the incarnation still alive once
	// its main process has exited (0 when nothing of it runs).
	Remaining() int
	// WaitGone blocks, once Wait has returned, until Remaining would be
	// 0, or ctx ends (its error is returned then).
	WaitGone(ctx context.Context) error
	// Release gives back what the incarnation holds in the OS (its
	// cgroup) once its end is recorded.
	Release()
	// Member reports whether pid is a live process of the incarnation (a
	// notification's sender must be).
	Member(pid int) bool
}

// Spawner starts incarnations.
type Spawner interface {
	Start(spec proc.Spec) (Process, error)
}

// Preparer is a Spawner that can make a worker's output files ahead of its
// spawn (proc.Prepare). Optional: without it Start makes them.
type Preparer interface {
	Prepare(spec proc.Spec) error
}

// Stager is a Spawner that can make ahead what a spawn needs before its
// fork (proc.Spawner.Stage): the supervisor stages a respawn while the
// decision to make it commits. Optional: without it Start makes it all.
type Stager interface {
	Stage(spec proc.Spec)
	Unstage(worker string, inc uint64)
}

// ProcSpawner adapts *proc.Spawner to Spawner.
type ProcSpawner struct{ *proc.Spawner }

// Start implements Spawner.
func (s ProcSpawner) Start(spec proc.Spec) (Process, error) {
	p, err := s.Spawner.Start(spec)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Prepare implements Preparer.
func (ProcSpawner) Prepare(spec proc.Spec) error { return proc.Prepare(spec) }

// Prober runs one incarnation's health check until ctx ends (health.Run).
type Prober func(ctx context.Context, spec health.Spec, report func(health.Report))

// Watcher watches one incarnation's resources until ctx ends
// (*limits.Sampler).
type Watcher interface {
	Watch(ctx context.Context, pgid int, spec limits.Spec, report func(limits.Violation))
}

// MembersWatcher is a Watcher that can also take an incarnation's members
// from a list the kernel keeps (*limits.Sampler): used for incarnations
// with a cgroup.
type MembersWatcher interface {
	WatchMembers(ctx context.Context, pgid int, members limits.Members, spec limits.Spec, report func(limits.Violation))
}

// Clock is the supervisor's source of time. Tests replace it.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; stop cancels it and
	// reports whether it did so before f started.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// RealClock is the wall clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc implements Clock.
func (RealClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

var (
	_ Spawner        = ProcSpawner{}
	_ Preparer       = ProcSpawner{}
	_ Stager         = ProcSpawner{}
	_ Watcher        = (*limits.Sampler)(nil)
	_ MembersWatcher = (*limits.Sampler)(nil)
	_ Prober         = health.Run
)
