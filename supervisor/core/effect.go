package core

import (
	"fmt"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// EffectKind is what a durable event asks the OS edges to do.
type EffectKind int

const (
	// Spawn starts incarnation Inc with the settings Digest names.
	Spawn EffectKind = iota + 1
	// Signal sends Signal to everything of incarnation Inc.
	Signal
	// Kill sends SIGKILL to everything of incarnation Inc, escapees
	// included.
	Kill
	// StartMonitors runs the incarnation's health check and limit watch.
	StartMonitors
	// Watch starts waiting for the end of an incarnation this daemon
	// adopted (a spawned one is watched from its spawn).
	Watch
	// ArmTimer arms Timer to fire At (Delay is what the log states).
	ArmTimer
	// Prepare makes the output files of the workers about to start
	// (Digests, in spawn order), beside the spawns.
	Prepare
	// Forget drops what the shell keeps for a removed worker.
	Forget
	// RunHook runs hook Hook of incarnation Inc (Ref: its hook_started),
	// bounded by Delay, and reports how it ended. A post_stop runs to its
	// end before anything later on the worker's queue (the next start); the
	// other hooks run beside it.
	RunHook
	// CancelHook kills the process group of hook Hook of incarnation Inc
	// if it still runs: what it belonged to is over.
	CancelHook
	// ExitDaemon tells the shell that the daemon exits with status Code once
	// every worker has stopped (exit_on); Worker is the one whose end
	// decided it, if any.
	ExitDaemon
)

var effectNames = map[EffectKind]string{Spawn: "spawn", Signal: "signal", Kill: "kill", StartMonitors: "monitors",
	Watch: "watch", ArmTimer: "timer", Prepare: "prepare", Forget: "forget", RunHook: "hook", CancelHook: "cancel-hook", ExitDaemon: "exit"}

func (k EffectKind) String() string {
	if n, ok := effectNames[k]; ok {
		return n
	}
	return fmt.Sprintf("EffectKind(%d)", int(k))
}

// Effect is data until its event is durable.
type Effect struct {
	Kind    EffectKind
	Worker  string
	Inc     events.Incarnation
	Digest  string    // Spawn, StartMonitors, RunHook: the settings
	Signal  int       // Signal
	Timer   TimerKind // ArmTimer
	At      time.Time // ArmTimer: from its event's time, so a late dispatch does not delay it
	Delay   time.Duration
	Digests []string // Prepare
	// Signal of an operator: who asked, and the signal_requested the
	// outcome answers. RunHook, CancelHook: the hook_started.
	Actor string
	Ref   events.Seq
	Hook  string // RunHook, CancelHook: which hook
	Code  int    // ExitDaemon: the daemon's exit status
}

func (f Effect) String() string {
	s := fmt.Sprintf("%s %s/%d", f.Kind, f.Worker, f.Inc)
	switch f.Kind {
	case Signal:
		s += fmt.Sprintf(" SIG%s", events.SignalName(f.Signal))
	case ArmTimer:
		s += fmt.Sprintf(" %v at %s", f.Timer, f.At.Format(time.RFC3339Nano))
	case RunHook, CancelHook:
		s += " " + f.Hook
	}
	return s
}

func (k TimerKind) String() string {
	switch k {
	case StartTimeout:
		return "start-timeout"
	case StopTimeout:
		return "stop-timeout"
	case RestartDue:
		return "restart"
	case Cooldown:
		return "cooldown"
	case ReadyTimeout:
		return "ready-timeout"
	case ScheduleDue:
		return "schedule"
	}
	return fmt.Sprintf("TimerKind(%d)", int(k))
}

// Outcome is what a command did to one worker: the event it recorded
// (stale when it changed nothing, e.g. a start of a running worker), or
// why it was refused.
type Outcome struct {
	Worker  string
	Verb    Verb       // what the command did: a reload is a SendSignal or a Restart
	Before  fsm.Worker // the worker as the command found it
	Oneshot bool       // a one-shot: a start's goal is completion
	Event   *events.Event
	Err     error
}

// Result is one decision.
type Result struct {
	// Events to append, in order; already folded into the pending world,
	// with their seqs and times.
	Events []*events.Event
	// Effects to carry out once Events are durable, in order per worker.
	Effects []Effect
	// Outcomes of a Command, one per worker named, in order.
	Outcomes []Outcome
	// Load and Scale: what a configuration load (or a scale) changed.
	Added, Removed, Changed []string
	// Scale: the count of instances before it.
	ScaledFrom int
}
