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
)

var effectNames = map[EffectKind]string{Spawn: "spawn", Signal: "signal", Kill: "kill", StartMonitors: "monitors",
	Watch: "watch", ArmTimer: "timer", Prepare: "prepare", Forget: "forget"}

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
	Digest  string    // Spawn, StartMonitors: the settings
	Signal  int       // Signal
	Timer   TimerKind // ArmTimer
	At      time.Time // ArmTimer: from its event's time, so a late dispatch does not delay it
	Delay   time.Duration
	Digests []string // Prepare
}

func (f Effect) String() string {
	s := fmt.Sprintf("%s %s/%d", f.Kind, f.Worker, f.Inc)
	switch f.Kind {
	case Signal:
		s += fmt.Sprintf(" SIG%s", events.SignalName(f.Signal))
	case ArmTimer:
		s += fmt.Sprintf(" %v at %s", f.Timer, f.At.Format(time.RFC3339Nano))
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
	// Load: what a configuration load changed.
	Added, Removed, Changed []string
}
