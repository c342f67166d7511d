package events

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// JSON is the stable, human-facing form of an Event: the shape of
// `tend history -o json`, `tend events -o json` and log exports. Scripts
// depend on these field names; add fields, never rename them.
type JSON struct {
	Seq         Seq      `json:"seq"`
	Time        string   `json:"time"`
	Worker      string   `json:"worker"`
	Incarnation uint64   `json:"incarnation"`
	Type        string   `json:"type"`
	From        string   `json:"from"`
	To          string   `json:"to"`
	Stale       bool     `json:"stale,omitempty"`
	PID         int      `json:"pid"`
	ExitCode    *int     `json:"exit_code"`
	Signal      string   `json:"signal"`
	Actor       string   `json:"actor"`
	Cause       string   `json:"cause"`
	Errno       int      `json:"errno,omitempty"`
	Resource    string   `json:"resource,omitempty"`
	Measured    float64  `json:"measured,omitempty"`
	Limit       float64  `json:"limit,omitempty"`
	DelayMS     float64  `json:"delay_ms,omitempty"`
	Attempt     int      `json:"attempt,omitempty"`
	Policy      string   `json:"policy,omitempty"`
	Hash        string   `json:"hash,omitempty"`
	StartTicks  uint64   `json:"start_ticks,omitempty"`
	BootID      string   `json:"boot_id,omitempty"`
	EnvNames    []string `json:"env_names,omitempty"`
	Command     []string `json:"command,omitempty"`
	Text        string   `json:"text,omitempty"`
	Planned     string   `json:"planned,omitempty"`
	// Scaled: instances in force (0 is a count here, so it is always
	// written for scaled), and the configuration's count.
	Instances     *int   `json:"instances,omitempty"`
	FileInstances *int   `json:"file_instances,omitempty"`
	Ref           Seq    `json:"ref,omitempty"`
	RelayPID      int    `json:"relay_pid,omitempty"`
	RelayTicks    uint64 `json:"relay_start_ticks,omitempty"`
	Prev          string `json:"prev"`
}

// ToJSON converts e to its JSON form.
func (e *Event) ToJSON() JSON {
	j := JSON{
		Seq: e.Seq, Time: e.Time.UTC().Format(time.RFC3339Nano), Worker: e.Worker,
		Incarnation: uint64(e.Incarnation), Type: e.Type.String(), Stale: e.Stale,
		PID: e.PID, ExitCode: e.ExitCode, Actor: e.Actor, Cause: e.Cause,
		Errno: e.Errno, Resource: e.Resource, Measured: e.Measured, Limit: e.Limit,
		DelayMS: float64(e.Delay) / float64(time.Millisecond), Attempt: e.Attempt,
		Policy: e.Policy, Hash: e.Hash, StartTicks: e.StartTicks, BootID: e.BootID,
		EnvNames: e.EnvNames, Command: e.Command, Prev: hex.EncodeToString(e.Prev[:]),
	}
	if e.From != 0 {
		j.From = e.From.String()
	}
	if e.To != 0 {
		j.To = e.To.String()
	}
	if e.Signal != 0 {
		j.Signal = SignalName(e.Signal)
	}
	j.Text, j.Ref = e.Text, e.Ref
	if e.Type == Scaled {
		n, f := e.Instances, e.FileInstances
		j.Instances, j.FileInstances = &n, &f
	}
	j.RelayPID, j.RelayTicks = e.RelayPID, e.RelayStartTicks
	if !e.Planned.IsZero() {
		j.Planned = e.Planned.UTC().Format(time.RFC3339Nano)
	}
	return j
}

// MarshalJSON writes the JSON form.
func (e Event) MarshalJSON() ([]byte, error) { return json.Marshal(e.ToJSON()) }

// Transition renders the event's state change for people: "Running → Stopping",
// or "" when it changes nothing.
func (e *Event) Transition() string {
	if e.From == 0 && e.To == 0 {
		return ""
	}
	return e.From.String() + " → " + e.To.String()
}

// Summary is a one-line account of the facts an event carries, for tables.
func (e *Event) Summary() string {
	var parts []string
	if e.PID != 0 {
		parts = append(parts, fmt.Sprintf("pid %d", e.PID))
	}
	if e.ExitCode != nil {
		parts = append(parts, fmt.Sprintf("exit %d", *e.ExitCode))
	}
	if e.Signal != 0 {
		parts = append(parts, "signal "+SignalName(e.Signal))
	}
	if e.Delay != 0 {
		parts = append(parts, "delay "+e.Delay.Round(time.Millisecond).String())
	}
	if e.Stale {
		parts = append(parts, "stale")
	}
	return strings.Join(parts, ", ")
}
