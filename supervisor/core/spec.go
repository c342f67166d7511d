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
	// Digest identifies the settings; the log records it (worker_added,
	// worker_changed) and a reload restarts a worker whose digest changed.
	Digest string

	Autostart    bool
	StartTimeout time.Duration // a process that dies sooner is a failed start; 0: running once spawned
	StopSignal   int
	StopTimeout  time.Duration
	OnLeaderExit LeaderExit // "": StopRest
	Policy       policy.Spec
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
}

// NewState wraps a world replayed from the log.
func NewState(w *fsm.World) *State { return &State{World: w, Specs: make(map[string]*Spec)} }

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
