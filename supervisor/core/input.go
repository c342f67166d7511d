package core

import (
	"fmt"
	"time"

	"github.com/tendhq/tend/events"
)

// Input is what Step judges: one of the types below.
type Input interface{ input() }

// Verb is an operator's command on workers.
type Verb int

const (
	Start Verb = iota + 1
	Stop
	Restart
	// SendSignal sends Command.Signal to the worker's running incarnation.
	SendSignal
	// Reload sends a running worker its reload_signal, or restarts it
	// when it has none. It never starts a stopped worker.
	Reload
)

func (v Verb) String() string {
	switch v {
	case Start:
		return "start"
	case Stop:
		return "stop"
	case Restart:
		return "restart"
	case SendSignal:
		return "signal"
	case Reload:
		return "reload"
	}
	return fmt.Sprintf("Verb(%d)", int(v))
}

// ParseVerb is the inverse of String.
func ParseVerb(s string) (Verb, error) {
	for _, v := range []Verb{Start, Stop, Restart, SendSignal, Reload} {
		if v.String() == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown command %q (start, stop, restart, signal, reload)", s)
}

// Command is an operator's verb on one or many workers, judged as one
// decision: its events are appended, and made durable, together.
type Command struct {
	Verb    Verb
	Workers []string
	Actor   string
	// NoDeps: a stop or restart leaves the workers that depend on these
	// alone (by default they are stopped first, or restarted with them).
	NoDeps bool
	// Signal is what SendSignal sends (a Linux signal number).
	Signal int
}

// Load applies a configuration. First is the first load of this daemon:
// it records daemon_started, resumes what the log left scheduled, and
// starts autostart workers that are down (after a daemon that ended
// without shutting down, only those added or changed since: what it
// decided stands); it restarts nothing.
type Load struct {
	Specs []*Spec // sorted by name
	Hash  string  // digest of the configuration as a whole
	Actor string
	First bool
	// Changes names, for a worker whose settings changed since the last
	// load, the keys they changed in (as the file spells them, never a
	// value), for the cause its worker_changed records. Optional.
	Changes map[string][]string
	// Groups are the workers with instances and the configuration's
	// count of each. Specs holds their instances (Spec.InstanceOf) up to
	// at least the count in force: the configuration's, or a runtime
	// scale's (World.Scales) while it holds; those past it are left out.
	Groups []Group
	// ExitOn is the daemon's exit_on setting ("": ExitNever).
	ExitOn ExitOn
	// About is what the daemon says of itself in daemon_started (how it
	// tells a worker's processes); only with First.
	About string
}

// Group is a worker with instances = Instances in the configuration.
type Group struct {
	Name      string
	Instances int
}

// Scale changes the number of instances of a worker with instances at
// runtime (tend scale). Specs are the settings of instances 1 … Count, in
// order.
type Scale struct {
	Group string
	Count int
	Specs []*Spec
	Actor string
}

// Shutdown records that the daemon is stopping and, unless LeaveRunning,
// stops every worker.
type Shutdown struct {
	LeaveRunning bool
	Cause        string
}

// Refused records a client that was turned away (what it asked is never
// recorded).
type Refused struct{ Actor, Cause string }

// NotifyFailed records the dead letter of an alert: the alert named
// Notifier about the event at Seq was not delivered after Attempts
// attempts, the last failing with Err (words that name no secret).
type NotifyFailed struct {
	Notifier string
	Seq      events.Seq
	About    string // the event it was about, "breaker_opened of web"
	Attempts int
	Err      string
}

// Spawned: the incarnation's process exists.
type Spawned struct {
	Worker     string
	Inc        events.Incarnation
	PID        int
	StartTicks uint64
	BootID     string
	Command    []string
	EnvNames   []string
	// RelayPID and RelayStartTicks identify its output relay, if it has one.
	RelayPID        int
	RelayStartTicks uint64
}

// SpawnFailed: the incarnation's process could not be started.
type SpawnFailed struct {
	Worker  string
	Inc     events.Incarnation
	Errno   int
	Err     string
	Command []string
}

// Exit is how a main process ended.
type Exit struct {
	Code    int  // exit status; -1 when signalled or unknown
	Signal  int  // the signal that ended it, 0 if none
	HasCode bool // it exited with a status
	Desc    string
}

// LeaderExited: the main process ended while Remaining other processes of
// the incarnation still run.
type LeaderExited struct {
	Worker    string
	Inc       events.Incarnation
	PID       int
	Exit      Exit
	Remaining int
}

// Exited: the incarnation is over: its main process ended and nothing of
// it runs any more. Exit is the main process's.
type Exited struct {
	Worker string
	Inc    events.Incarnation
	PID    int
	Exit   Exit
}

// Signalled: a signal effect was carried out (Err, and Errno when there
// is one, say how it failed). Actor and Ref are the Signal effect's: who
// asked for it, and the signal_requested it answers.
type Signalled struct {
	Worker string
	Inc    events.Incarnation
	PID    int
	Signal int
	Err    string
	Errno  int
	Actor  string
	Ref    events.Seq
	// Hook: the signal went to this hook's process group (a stop of a
	// worker whose pre_start runs), not to a worker process.
	Hook string
	// To is what the signal went to: "the cgroup", or "" for the process
	// group.
	To string
}

// HookExited: a hook that a RunHook effect ran has ended, or could not be
// started (Errno, Err), or ended unseen (Lost: the daemon that ran it
// stopped first).
type HookExited struct {
	Worker    string
	Inc       events.Incarnation
	Kind      string     // pre_start, post_start, stop_command, post_stop
	Ref       events.Seq // its hook_started
	PID       int
	Exit      Exit
	Errno     int
	Err       string
	TimedOut  bool // killed with its group after its timeout
	Cancelled bool // killed with its group: what it belonged to was over
	Lost      bool
	Ran       time.Duration
	Output    string // the last lines of its output, control characters escaped
	Command   []string
}

// StraysFound: processes of the incarnation were found outside it and
// killed (What says how they were found).
type StraysFound struct {
	Worker string
	Inc    events.Incarnation
	N      int
	What   string
}

// HealthReport is a health check's verdict. First: the first pass of the
// incarnation's check (only that; not a change of health).
type HealthReport struct {
	Worker      string
	Inc         events.Incarnation
	Healthy     bool
	First       bool
	Consecutive int
	Detail      string
}

// Violation is a resource limit exceeded for its sustained time.
type Violation struct {
	Worker           string
	Inc              events.Incarnation
	Resource, Policy string
	Measured, Limit  float64
	Detail           string
	// Kernel says the kernel enforced the limit itself (an OOM kill in the
	// incarnation's cgroup): recorded with actor "kernel", and no policy
	// of tend's follows from it.
	Kernel bool
}

// TimerKind says what a timer was armed for.
type TimerKind int

const (
	StartTimeout TimerKind = iota + 1 // Starting long enough: running
	StopTimeout                       // still stopping: SIGKILL
	RestartDue                        // the backoff is over: start again
	Cooldown                          // the breaker's cooldown is over
	ReadyTimeout                      // Starting and not yet ready: a failed start
	ScheduleDue                       // a scheduled run is due
)

// TimerFired: a timer armed by an ArmTimer effect came due.
type TimerFired struct {
	Kind   TimerKind
	Worker string
	Inc    events.Incarnation
	Delay  time.Duration
	// ScheduleDue: when the run is due, and the settings that planned it.
	Planned time.Time
	Digest  string
}

// Notified is one message on a worker's notification socket (the systemd
// protocol). Foreign: its sender is not a process of the incarnation.
type Notified struct {
	Worker     string
	Inc        events.Incarnation
	PID        int // the sender, as the kernel says (SCM_CREDENTIALS)
	Foreign    bool
	Ready      bool    // READY=1
	Status     *string // STATUS=
	Reloading  bool    // RELOADING=1
	Stopping   bool    // STOPPING=1
	Extend     time.Duration
	MainPID    int // MAINPID=, with its identity
	MainTicks  uint64
	MainBootID string
}

// FDReady: the worker wrote a newline to its readiness descriptor.
type FDReady struct {
	Worker string
	Inc    events.Incarnation
	FD     int
}

// WatchdogExpired: no WATCHDOG=1 came for the worker's watchdog period.
type WatchdogExpired struct {
	Worker   string
	Inc      events.Incarnation
	Period   time.Duration
	LastPing time.Time // zero: none ever came
}

// Found is what recovery found of an incarnation the log believed alive.
type Found struct {
	Inc        events.Incarnation
	Alive      bool // the same process (pid, start time, boot) still runs and was adopted
	PID        int
	StartTicks uint64
	BootID     string
	// RelayPID and RelayStartTicks: its output relay still runs and was
	// adopted with it.
	RelayPID        int
	RelayStartTicks uint64
}

// Stray is a process of this daemon the log does not account for, found
// and killed by recovery.
type Stray struct {
	Worker string
	Inc    events.Incarnation
	PID    int // its main process, 0 when unknown
	// Procs is how many processes of the incarnation's cgroup were
	// killed; 0 for a process group leader found by its markers.
	Procs int
}

// HookFound is a hook process an earlier daemon started, found still
// running by recovery and killed with its group before anything runs it
// again.
type HookFound struct {
	Worker string
	Kind   string
	Inc    events.Incarnation // the incarnation it ran for
	PID    int                // its main process; 0 when its cgroup has none that leads a group
	// Procs is how many processes of the hook's cgroup were killed; 0 for
	// a process group leader found by its markers.
	Procs int
}

// Recovered reports what the OS holds of the workers the replayed log
// believed alive, after the first load.
type Recovered struct {
	Workers map[string]Found
	Strays  []Stray
	Hooks   []HookFound
	// Seq is the last seq of the log when this daemon started: the hooks
	// decided after it are this daemon's own, not the last one's.
	Seq events.Seq
}

func (Command) input()         {}
func (Load) input()            {}
func (Scale) input()           {}
func (Shutdown) input()        {}
func (Refused) input()         {}
func (Spawned) input()         {}
func (SpawnFailed) input()     {}
func (LeaderExited) input()    {}
func (Exited) input()          {}
func (Signalled) input()       {}
func (StraysFound) input()     {}
func (HealthReport) input()    {}
func (Violation) input()       {}
func (TimerFired) input()      {}
func (Recovered) input()       {}
func (Notified) input()        {}
func (FDReady) input()         {}
func (WatchdogExpired) input() {}
func (NotifyFailed) input()    {}
func (HookExited) input()      {}
