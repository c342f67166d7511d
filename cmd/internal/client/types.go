// Package client is the tend CLI's side of the control API, and the JSON
// shapes both sides speak. Field names here are a contract with scripts
// (`tend status -o json`): add fields, never rename them.
//
// It may not decide anything about workers: it asks the daemon.
package client

import (
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// WorkerStatus is one line of `tend status`.
type WorkerStatus struct {
	Name        string     `json:"name"`
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
	Workers    []WorkerStatus `json:"workers"`
}

// FromWorker converts the fold's view of a worker.
func FromWorker(w *fsm.Worker) WorkerStatus {
	s := WorkerStatus{
		Name: w.Name, State: w.State.String(), PID: w.PID, Incarnation: uint64(w.Incarnation),
		Restarts: w.Restarts, Since: w.Since, Cause: w.Cause, Actor: w.Actor, Health: w.Health,
		BreakerOpen: w.Policy.BreakerOpen,
	}
	if w.Policy.Pending {
		due := w.Policy.Due
		s.RestartDue = &due
	}
	if x := w.LastExit; x != nil {
		s.LastExit = &ExitInfo{Incarnation: uint64(x.Incarnation), Code: x.Code, Lost: x.Lost, At: x.At, Cause: x.Cause}
		if x.Signal != 0 {
			s.LastExit.Signal = events.SignalName(x.Signal)
		}
	}
	return s
}

// CommandRequest is start, stop or restart on many workers: one command,
// judged as one decision and made durable in one commit.
type CommandRequest struct {
	Verb    string   `json:"verb"`              // start, stop or restart
	Workers []string `json:"workers,omitempty"` // the workers, in the order to answer them
	All     bool     `json:"all,omitempty"`     // every configured worker instead
	Wait    bool     `json:"wait,omitempty"`    // until each reaches its target state
	Timeout string   `json:"timeout,omitempty"` // bound on the wait (default 30s)
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
	Reached bool         `json:"reached"`         // the target state was reached
	Reason  string       `json:"reason,omitempty"`
}

// ReloadResult answers reload.
type ReloadResult struct {
	Hash    string     `json:"hash"`
	Seq     events.Seq `json:"seq"`
	Added   []string   `json:"added"`
	Removed []string   `json:"removed"`
	Changed []string   `json:"changed"`
}

// ErrorBody is every non-2xx answer.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"` // "no_such_worker", "illegal", "bad_request", "refused", "unavailable", "failed"
}

// ReplayResult is every worker's state at a moment of the log.
type ReplayResult struct {
	Seq     events.Seq     `json:"seq"`
	Time    time.Time      `json:"time"`
	Workers []WorkerStatus `json:"workers"`
}
