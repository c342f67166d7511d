package core

import (
	"errors"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/policy"
)

// Errors a command's outcome carries. Callers branch on them with errors.Is.
var (
	// ErrNoWorker: no worker of that name is configured.
	ErrNoWorker = errors.New("supervisor: no such worker")
	// ErrClosed: the daemon is shutting down; nothing starts any more.
	ErrClosed = errors.New("supervisor: shutting down")
	// ErrNotRunning: a signal or reload names a worker with no process
	// to send it to.
	ErrNotRunning = errors.New("supervisor: not running")
	// ErrBadSignal: a signal number no program can be sent (0, 32 and 33,
	// or past 64).
	ErrBadSignal = errors.New("supervisor: not a signal")
)

// LeaderExit is what happens to the rest of an incarnation when its main
// process exits (systemd's KillMode).
type LeaderExit string

const (
	// StopRest sends the stop signal to whatever remains, then SIGKILL
	// after the stop timeout, before the end of the incarnation is
	// recorded and before any restart. The default.
	StopRest LeaderExit = "stop-rest"
	// Leave records the end at once and leaves the rest running.
	Leave LeaderExit = "leave"
)

// Spec is what Step needs to know of a worker's settings: what decides,
// not what runs. The shell keeps the rest (command, environment, output,
// probes) beside it under the same digest.
type Spec struct {
	Name string
	// InstanceOf and Instance: an instance of a worker with instances
	// (Name is InstanceName(InstanceOf, Instance)); "" and 0 otherwise.
	InstanceOf string
	Instance   int
	// Digest identifies the settings; the log records it (worker_added,
	// worker_changed) and a reload restarts a worker whose digest changed.
	Digest string

	Autostart    bool
	StartTimeout time.Duration // a process that dies sooner is a failed start; 0: running once spawned
	StopSignal   int
	StopTimeout  time.Duration
	OnLeaderExit LeaderExit // "": StopRest
	Policy       policy.Spec

	Oneshot  bool      // runs to completion: an exit 0 ends it Stopped, completed, never restarted
	Ready    Readiness // how it says it is ready
	Deps     []Dep     // what it depends on, in the configuration's order
	Schedule *Schedule // when it runs on its own; nil: only on command (and autostart)

	// ReloadSignal is what a reload sends the worker; 0: a reload
	// restarts it.
	ReloadSignal int
	// Hooks are the hooks configured (fsm.HookPreStart, HookPostStart,
	// HookStopCommand, HookPostStop), each with the time it may take.
	Hooks map[string]time.Duration
}

// hook reports whether sp has the hook kind, and its timeout.
func (sp *Spec) hook(kind string) (time.Duration, bool) {
	if sp == nil {
		return 0, false
	}
	t, ok := sp.Hooks[kind]
	return t, ok
}

// ReadyKind is how a worker says it is ready: Starting → Running.
type ReadyKind int

const (
	// ReadyAfterStart: up for StartTimeout (or at once without one).
	ReadyAfterStart ReadyKind = iota
	// ReadyNotify: READY=1 on the systemd notification socket.
	ReadyNotify
	// ReadyFD: a newline written to a descriptor (the s6 protocol).
	ReadyFD
	// ReadyHealth: the first passing health check.
	ReadyHealth
)

// Readiness is how and how long a worker may take to be ready.
type Readiness struct {
	Kind     ReadyKind
	FD       int           // ReadyFD: the descriptor it writes to
	Timeout  time.Duration // not ready this long after its spawn: a failed start; 0: no bound
	Watchdog time.Duration // ReadyNotify: no WATCHDOG=1 this long restarts it; 0: none
}

// Condition is what a dependency must have reached.
type Condition string

const (
	// Started: its current incarnation was spawned.
	Started Condition = "started"
	// Ready: it is Running (ready, by its readiness rule).
	Ready Condition = "ready"
	// Completed: it is a one-shot whose last run exited 0.
	Completed Condition = "completed"
)

// OnDepRestart is what a running dependent does when what it depends on
// ends on its own (a crash the restart policy handles). An operator's
// restart of the requirement always restarts its dependents, and an
// operator's stop always stops them first.
type OnDepRestart string

const (
	// DepIgnore: nothing (systemd's Requires=, process-compose). Default.
	DepIgnore OnDepRestart = "ignore"
	// DepRestart: stop it, and start it again once the requirement holds
	// again (systemd's BindsTo= with PartOf=).
	DepRestart OnDepRestart = "restart"
	// DepStop: stop it, and leave it stopped.
	DepStop OnDepRestart = "stop"
)

// Dep is one dependency.
type Dep struct {
	Name      string
	Cond      Condition
	OnRestart OnDepRestart // "": DepIgnore
}

// Schedule says when a worker runs on its own.
type Schedule struct {
	// Next is when the first run after t is due. It must be pure (a cron
	// expression in a fixed location, or a fixed period).
	Next func(t time.Time) time.Time
	// Overlap is what a run due while the last one still runs does:
	// "forbid" (skip it, recorded), "replace" (restart), "allow" (start it
	// as soon as the last one ends).
	Overlap string
	// CatchUp is what runs missed while no daemon ran do: "skip" (recorded)
	// or "once" (one run at start-up).
	CatchUp string
}

// State is what Step reads and changes: the pending world and the settings
// it names. Not safe for concurrent use: its owner locks.
type State struct {
	// World is the fold of every event handed to the log, durable or not.
	// Step folds the events it returns into it.
	World *fsm.World
	// Specs holds settings by digest: every configuration this daemon
	// loaded. A digest never changes meaning, so an entry is never wrong;
	// Step adds to it on Load and drops what no worker names any more.
	Specs map[string]*Spec
	// dependents maps a worker to the workers that depend on it, derived
	// from the settings of the last load.
	dependents map[string][]string
	// groups are the workers with instances in the last load, with the
	// configuration's count of each.
	groups map[string]int
	// ExitOn is the daemon's exit_on setting of the last load.
	ExitOn ExitOn
	// Scheduled is set once settings with a schedule were loaded, and
	// never cleared: while it is not, no worker has a next run, and a
	// status of every worker need not look up each one's settings.
	Scheduled bool
}

// NewState wraps a world replayed from the log.
func NewState(w *fsm.World) *State { return &State{World: w, Specs: make(map[string]*Spec)} }

// Clone is a copy of the state that Step may change without changing s:
// for judging an input without recording it (what a reload would do).
// The settings are shared: they are never changed once loaded.
func (s *State) Clone() *State {
	c := &State{World: s.World.Clone(), Specs: make(map[string]*Spec, len(s.Specs)), groups: s.groups, Scheduled: s.Scheduled}
	for dg, sp := range s.Specs {
		c.Specs[dg] = sp
	}
	c.reindex()
	return c
}

// spec is the settings in force for w, or nil when none are known (not
// configured, removed, or before the first load).
func (s *State) spec(w *fsm.Worker) *Spec {
	if w == nil || w.Spec == "" || w.Removed {
		return nil
	}
	return s.Specs[w.Spec]
}

// SpecOf is the settings in force for the named worker, or nil.
func (s *State) SpecOf(name string) *Spec { return s.spec(s.World.Worker(name)) }

// configured reports whether commands may name w: it is in the
// configuration in force (a worker being removed still is, until it has
// stopped).
func (s *State) configured(w *fsm.Worker) bool { return s.spec(w) != nil }

func stopped(w *fsm.Worker) bool { return w.State == events.Stopped || w.State == events.Killed }
