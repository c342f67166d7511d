package events

import (
	"fmt"
	"time"
)

// Seq is an event's place in the log: from 1, strictly increasing, no gaps.
type Seq uint64

// Incarnation numbers the spawns of one worker: the first start is 1. An
// observation carries the incarnation it concerns, so a report about an
// earlier spawn can be recognised as stale.
type Incarnation uint64

// State is a worker's lifecycle state. The zero value means "no state" and is
// what events that change nothing carry in From and To.
type State uint8

// The five worker states. Their byte values are part of the record format.
const (
	Stopped  State = 1
	Starting State = 2
	Running  State = 3
	Stopping State = 4
	// Killed: the supervisor force-killed the process (SIGKILL after a stop
	// timeout, or a kill policy) and it has exited.
	Killed State = 5
)

var stateNames = [...]string{"", "Stopped", "Starting", "Running", "Stopping", "Killed"}

// States lists the five states in their numeric order.
func States() []State { return []State{Stopped, Starting, Running, Stopping, Killed} }

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Valid reports whether s is one of the five states.
func (s State) Valid() bool { return s >= Stopped && s <= Killed }

// ParseState is the inverse of String.
func ParseState(name string) (State, error) {
	for i, n := range stateNames {
		if i > 0 && n == name {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("events: unknown state %q", name)
}

// Type says what happened. Values are part of the record format: append new
// types at the end, never renumber.
type Type uint8

const (
	// Commands, caused by an operator or by tend on its own behalf.
	StartRequested   Type = 1  // start a stopped worker: Stopped/Killed → Starting, new incarnation
	StopRequested    Type = 2  // stop signal sent to the group: Starting/Running → Stopping
	RestartRequested Type = 3  // stop, then start again once it has exited
	Spawned          Type = 4  // the process exists: pid, start ticks, command, env names
	SpawnFailed      Type = 5  // fork/exec failed, with errno: Starting → Stopped
	Ready            Type = 6  // "running": start timeout passed (or readiness reached): Starting → Running
	Exited           Type = 7  // the process ended, with exit code or signal
	SignalSent       Type = 8  // a signal was sent to the worker's group
	KillSent         Type = 9  // "killed": SIGKILL sent to the group by the supervisor (stop timeout or kill policy)
	HealthFailed     Type = 10 // health check reached its failure threshold
	HealthRecovered  Type = 11 // health check passes again
	LimitViolated    Type = 12 // a resource limit exceeded for its sustained duration
	RestartScheduled Type = 13 // restart policy: start again after the delay drawn
	BreakerOpened    Type = 14 // too many restarts in the window: worker stays stopped
	BreakerClosed    Type = 15 // breaker reset by an operator start or its cooldown
	ConfigLoaded     Type = 16 // a configuration was loaded or reloaded (hash)
	DaemonStarted    Type = 17
	DaemonStopping   Type = 18
	Adopted          Type = 19 // recovery: a live process of the log's last incarnation was adopted
	Lost             Type = 20 // recovery: the process died while the daemon was down
	CommandRefused   Type = 21 // a client was refused (not authorised); payload not recorded
	WorkerAdded      Type = 22 // configuration now has this worker
	WorkerRemoved    Type = 23 // configuration no longer has this worker
	RestartCancelled Type = 24 // a scheduled restart will not happen (stop, removal)
	StrayFound       Type = 25 // a process of the worker outside its group survived the stop
	// WorkerChanged records the settings now in force for a worker (Hash:
	// their keyed digest); an empty Hash means it was removed from the
	// configuration and is stopping before it is removed. Format 2.
	WorkerChanged Type = 26
	// LeaderExited: the worker's main process exited while other processes
	// of its incarnation remain (Attempt: how many); they are stopped
	// before the end of the incarnation is recorded. Format 2.
	LeaderExited Type = 27
	// Waiting: a start waits for what the worker depends on (Policy
	// "start"), a stop waits for the workers that depend on it to stop first
	// (Policy "stop"), or a scheduled run waits for the current one to end
	// (Policy "run"). Cause says for what; a waiting worker keeps its state.
	Waiting Type = 28
	// Notified: a message of the worker's readiness protocol other than
	// READY=1 (Policy: STATUS, RELOADING, STOPPING, EXTEND_TIMEOUT, MAINPID),
	// with Text or Delay or PID. One from a process outside the incarnation
	// is recorded stale.
	Notified Type = 29
	// NotReady: the worker was not ready within its ready_timeout: it is
	// stopped, and its end counts as a failed start. Starting → Stopping.
	NotReady Type = 30
	// RunSkipped: a scheduled run did not start (Planned: when it was due),
	// because the last run was still going, or it was missed while no
	// daemon ran.
	RunSkipped Type = 31
	// NotifyFailed: an alert ([[notify]]) could not be delivered after
	// its last attempt (Attempt: how many; Policy: the alert's name); the
	// cause names the alert, the seq it was about and the last error. A
	// daemon-level event, the dead letter of at-least-once delivery.
	NotifyFailed Type = 32
	// Scaled: the number of instances of a worker with instances changed at
	// runtime (tend scale), or a configuration ended an earlier runtime
	// scale. Worker is the group's name (NAME, whose instances are
	// NAME@1 …); Instances the count now in force, FileInstances the
	// configuration's count it was decided against. The instances added or
	// removed are recorded as by a reload (worker_added, worker_changed,
	// worker_removed).
	Scaled Type = 33
	// SignalRequested: someone asked for Signal to be sent to incarnation
	// Incarnation (PID: its main process) and it was decided: the signal is
	// sent once this is durable, and its outcome is the signal_sent whose
	// Ref is this event's seq. Changes no state.
	SignalRequested Type = 34
	// HookStarted: the worker's hook Policy (pre_start, post_start,
	// stop_command, post_stop) is to run for incarnation Incarnation, with
	// at most Delay to finish. Its outcome is the hook_exited whose Ref is
	// this event's seq. Changes no state.
	HookStarted Type = 35
	// HookExited: the hook a hook_started (Ref) decided ended: exit code or
	// signal (Errno: it could not be started), Delay how long it ran, Text
	// the last lines of its output, Command what ran. A failed pre_start
	// ends its incarnation (Starting → Stopped, a failed start); a failed
	// post_start stops it (Running → Stopping, a failed start).
	HookExited Type = 36
	lastType        = HookExited
)

var typeNames = [...]string{
	"", "start_requested", "stop_requested", "restart_requested", "spawned", "spawn_failed",
	"running", "exited", "signal_sent", "killed", "health_failed", "health_recovered",
	"limit_violated", "restart_scheduled", "breaker_opened", "breaker_closed", "config_loaded",
	"daemon_started", "daemon_stopping", "adopted", "lost", "command_refused", "worker_added",
	"worker_removed", "restart_cancelled", "stray_found", "worker_changed", "leader_exited",
	"waiting", "notified", "not_ready", "run_skipped", "notify_failed", "scaled",
	"signal_requested", "hook_started", "hook_exited",
}

func (t Type) String() string {
	if t >= 1 && t <= lastType {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Valid reports whether t is a known type.
func (t Type) Valid() bool { return t >= 1 && t <= lastType }

// Types lists every known type in numeric order.
func Types() []Type {
	out := make([]Type, 0, lastType)
	for t := Type(1); t <= lastType; t++ {
		out = append(out, t)
	}
	return out
}

// ParseType is the inverse of String.
func ParseType(name string) (Type, error) {
	for t := Type(1); t <= lastType; t++ {
		if typeNames[t] == name {
			return t, nil
		}
	}
	return 0, fmt.Errorf("events: unknown event type %q", name)
}

// Common actors. A client's actor is "cli uid=N".
const (
	ActorDaemon   = "daemon"
	ActorHealth   = "health"
	ActorLimits   = "limits"
	ActorPolicy   = "restart-policy"
	ActorRecovery = "recovery"
	ActorKernel   = "kernel"  // the kernel enforced a limit itself (an OOM kill in a cgroup)
	ActorProcess  = "process" // the OS reported it (an exit)
	ActorNotify   = "notify"  // the worker said so on its readiness channel
	ActorWatchdog = "watchdog"
	ActorSchedule = "schedule"
	ActorAlert    = "alert" // alert delivery ([[notify]]), its dead letters
	ActorHook     = "hook"  // a hook's process ended
)

// Event is one lifecycle change. Seq and Prev are given by the store.
type Event struct {
	Seq         Seq
	Time        time.Time // UTC; nanoseconds are kept
	Worker      string    // empty for daemon-level events
	Incarnation Incarnation
	Type        Type
	From, To    State // both zero when the event changes no state
	Stale       bool  // recorded, but it changed nothing (old incarnation or overtaken)
	Actor       string
	Cause       string
	Prev        [32]byte // SHA-256 of the previous record

	Details
}

// Details are the typed facts an event may carry; zero means absent.
type Details struct {
	PID        int
	ExitCode   *int // nil when the process did not exit normally or the code is unknown
	Signal     int
	Errno      int
	Resource   string  // "memory" or "cpu"
	Measured   float64 // bytes or percent of one core
	Limit      float64
	Delay      time.Duration // backoff drawn
	Attempt    int
	Policy     string // restart or limit policy applied
	Hash       string // config hash
	StartTicks uint64 // /proc/PID/stat field 22, with BootID the process identity
	BootID     string
	EnvNames   []string // names only: values never enter the log
	Command    []string
	Text       string    // what the worker reported of itself (STATUS=); format 2
	Planned    time.Time // when a scheduled run was due; format 2
	// Scaled: the count of instances in force, and the configuration's
	// count it was decided against; format 2.
	Instances     int
	FileInstances int
	// Ref is the seq of the event this one answers: the signal_requested a
	// signal_sent reports on, the hook_started a hook_exited ends.
	Ref Seq
	// RelayPID and RelayStartTicks identify the process that holds the
	// worker's output pipe and writes its files (output = "relay"), with
	// BootID: the kernel's identity of it, never a marker. Format 2.
	RelayPID        int
	RelayStartTicks uint64
}

// Changes reports whether the event moves its worker to a new state.
func (e *Event) Changes() bool { return !e.Stale && e.To != 0 }

// IntPtr is a small helper for Details.ExitCode.
func IntPtr(v int) *int { return &v }
