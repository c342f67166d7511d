// Package client is the tend CLI's side of the control API, and the JSON
// shapes both sides speak. Field names here are a contract with scripts
// (`tend status -o json`): add fields, never rename them.
//
// It may not decide anything about workers: it asks the daemon.
package client

import (
	"strings"
	"time"

	"github.com/tendhq/tend/events"
)

// WorkerStatus is one line of `tend status`. It is encoded by hand
// (encode.go) and read by hand (decode.go, which gives what it does not
// know to encoding/json): a field added here is added there too.
type WorkerStatus struct {
	Name string `json:"name"`
	// Group is, for an instance (NAME@N), the worker with instances it is
	// one of (NAME); empty otherwise.
	Group       string     `json:"group,omitempty"`
	State       string     `json:"state"`
	PID         int        `json:"pid"`
	Incarnation uint64     `json:"incarnation"`
	Restarts    int        `json:"restarts"`
	Since       time.Time  `json:"since"`
	Cause       string     `json:"cause"`
	Actor       string     `json:"actor"`
	Health      string     `json:"health,omitempty"`
	LastExit    *ExitInfo  `json:"last_exit,omitempty"`
	RestartDue  *time.Time `json:"restart_due,omitempty"`
	BreakerOpen bool       `json:"breaker_open,omitempty"`
	RSSBytes    uint64     `json:"rss_bytes,omitempty"`
	CPUPercent  float64    `json:"cpu_percent,omitempty"`
	// Tracking is how the live incarnation's processes are told:
	// "cgroup" (Cgroup is its directory) or "pgroup" (its leader's
	// process group). An incarnation adopted from a daemon that tracked by
	// process group stays "pgroup" under one that tracks by cgroup.
	Tracking string `json:"tracking,omitempty"`
	Cgroup   string `json:"cgroup,omitempty"`
	// Waiting: what a start ("start"), a stop ("stop") or a scheduled run
	// ("run") waits for, in words, and since when.
	Waiting      string     `json:"waiting,omitempty"`
	WaitingFor   string     `json:"waiting_for,omitempty"`
	WaitingSince *time.Time `json:"waiting_since,omitempty"`
	// StatusText is what the worker last said of itself (STATUS=).
	StatusText string `json:"status_text,omitempty"`
	// NextRun is when its next scheduled run is due (the daemon's answer
	// only: it needs the schedule).
	NextRun *time.Time `json:"next_run,omitempty"`
}

// Note says in a few words why a worker is where it is, as the WHY column
// of `tend status` and the NOTE column of `tend top` show it: an open
// breaker, a restart due, what a start waits for, the cause of a state
// other than Running, a failing health check, or what the worker said of
// itself. The words are the daemon's and the worker's: a view that prints
// them to a terminal escapes them first.
func (w *WorkerStatus) Note() string {
	why := ""
	switch {
	case w.BreakerOpen:
		why = "circuit breaker open: " + w.Cause
	case w.RestartDue != nil:
		why = "restart at " + w.RestartDue.Local().Format("15:04:05")
		if w.LastExit != nil {
			why += " after " + strings.TrimPrefix(w.LastExit.Cause, "process ")
		}
	case w.Waiting != "":
		why = w.WaitingFor
		if w.WaitingSince != nil {
			why += " (since " + w.WaitingSince.Local().Format("15:04:05") + ")"
		}
	case w.State != "Running":
		why = w.Cause
		if w.LastExit != nil && (w.State == "Stopped" || w.State == "Killed") {
			why += "; last exit: " + strings.TrimPrefix(w.LastExit.Cause, "process ")
		}
	case w.Health != "":
		why = "health: " + w.Health
	case w.StatusText != "":
		why = w.StatusText
	}
	if w.NextRun != nil {
		why = strings.TrimPrefix(why+"; next run at "+w.NextRun.Local().Format("2006-01-02 15:04:05"), "; ")
	}
	return why
}

// Tracking is how the daemon tells which processes belong to a worker.
type Tracking struct {
	Mode  string `json:"mode"`            // "cgroup" or "pgroup"
	Where string `json:"where,omitempty"` // the daemon's cgroup subtree
	Why   string `json:"why,omitempty"`   // why the daemon does not use cgroups
}

// ExitInfo is how an incarnation ended.
type ExitInfo struct {
	Incarnation uint64    `json:"incarnation"`
	Code        *int      `json:"code"`
	Signal      string    `json:"signal,omitempty"`
	Lost        bool      `json:"lost,omitempty"`
	At          time.Time `json:"at"`
	Cause       string    `json:"cause"`
}

// Status is the answer to GET /v1/status.
type Status struct {
	Seq        events.Seq     `json:"seq"`
	LogFailure string         `json:"log_failure,omitempty"`
	Tracking   *Tracking      `json:"tracking,omitempty"`
	Export     *ExportStatus  `json:"export,omitempty"` // with [export.nats]
	Notify     []NotifyStatus `json:"notify,omitempty"` // one per [[notify]]
	Workers    []WorkerStatus `json:"workers"`
}

// ExportStatus is the export of the log to NATS JetStream.
type ExportStatus struct {
	Stream     string     `json:"stream"`
	Subject    string     `json:"subject"`
	Host       string     `json:"host"`
	Log        string     `json:"log"`
	Connected  bool       `json:"connected"`
	Acked      events.Seq `json:"acked"` // the last seq the server acknowledged
	Last       events.Seq `json:"last"`  // the log's last seq
	LagEvents  uint64     `json:"lag_events"`
	LagSeconds float64    `json:"lag_seconds"` // age of the oldest event not yet acknowledged
	LastAck    *time.Time `json:"last_ack,omitempty"`
	Error      string     `json:"error,omitempty"` // why it is interrupted
}

// NotifyStatus is one [[notify]] entry's progress.
type NotifyStatus struct {
	Name        string     `json:"name"`
	Cursor      events.Seq `json:"cursor"`
	Delivered   uint64     `json:"delivered"`
	Failures    uint64     `json:"failures"`
	DeadLetters uint64     `json:"dead_letters"`
	Retrying    events.Seq `json:"retrying,omitempty"`
	Error       string     `json:"error,omitempty"`
}

// CommandRequest is start, stop, restart, signal or reload on many
// workers: one command, judged as one decision and made durable in one
// commit.
type CommandRequest struct {
	Verb    string   `json:"verb"`              // start, stop, restart, signal or reload
	Workers []string `json:"workers,omitempty"` // the workers, in the order to answer them
	All     bool     `json:"all,omitempty"`     // every configured worker instead
	Wait    bool     `json:"wait,omitempty"`    // until each reaches its target state
	Timeout string   `json:"timeout,omitempty"` // bound on the wait (default: until 30s pass in which no worker reaches its target)
	NoDeps  bool     `json:"no_deps,omitempty"` // stop/restart: leave what depends on them alone
	Signal  string   `json:"signal,omitempty"`  // signal: which ("HUP", "SIGUSR1", "10")
}

// CommandReply answers a CommandRequest: one result per worker.
type CommandReply struct {
	Results []CommandResult `json:"results"`
}

// CommandResult answers start, stop and restart for one worker.
type CommandResult struct {
	Worker  string       `json:"worker"`
	Error   *ErrorBody   `json:"error,omitempty"` // the command was refused for this worker
	Event   *events.JSON `json:"event,omitempty"` // the command as recorded
	Status  WorkerStatus `json:"status"`          // the state reached (or at timeout)
	Reached bool         `json:"reached"`         // the target state was reached (a signal: it was sent)
	Reason  string       `json:"reason,omitempty"`
	// Did is what the command did to this worker: a reload is "signal"
	// (its reload_signal) or "restart".
	Did string `json:"did,omitempty"`
	// Outcome is a signal's outcome as recorded (signal_sent).
	Outcome *events.JSON `json:"outcome,omitempty"`
}

// ReloadResult answers reload.
type ReloadResult struct {
	Hash    string     `json:"hash"`
	Seq     events.Seq `json:"seq"`
	Added   []string   `json:"added"`
	Removed []string   `json:"removed"`
	Changed []string   `json:"changed"`
}

// ReloadPlan answers a dry run of reload (`tend check --diff`): what a
// reload of the daemon's configuration file would do now. It names
// workers and the keys whose settings changed, never a value or a hash.
type ReloadPlan struct {
	Config    string          `json:"config"` // the file the daemon reads on reload
	Added     []string        `json:"added"`
	Removed   []string        `json:"removed"`
	Changed   []ChangedWorker `json:"changed"`
	Unchanged []string        `json:"unchanged"`
}

// ScaleRequest asks for a number of instances of a worker with instances.
type ScaleRequest struct {
	Worker    string `json:"worker"`
	Instances int    `json:"instances"`
}

// ScaleResult answers a scale: the count before and after, and the
// instances it added and removed (those removed stop first).
type ScaleResult struct {
	Worker  string     `json:"worker"`
	From    int        `json:"from"`
	To      int        `json:"to"`
	Added   []string   `json:"added"`
	Removed []string   `json:"removed"`
	Seq     events.Seq `json:"seq"`
}

// ChangedWorker is a worker whose settings a reload changes.
type ChangedWorker struct {
	Name    string   `json:"name"`
	Keys    []string `json:"keys"`    // as the file spells them: "env_file", "health.interval"
	Restart bool     `json:"restart"` // it runs, and restarts; else it only takes the new settings
}

// ErrorBody is every non-2xx answer.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"` // "no_such_worker", "not_running", "bad_signal", "illegal", "bad_request", "refused", "unavailable", "failed"
}

// ReplayResult is every worker's state at a moment of the log.
type ReplayResult struct {
	Seq     events.Seq     `json:"seq"`
	Time    time.Time      `json:"time"`
	Workers []WorkerStatus `json:"workers"`
}
