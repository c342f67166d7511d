package query

import (
	"strings"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/store"
)

// StartUp is one start-up read from the log: when each worker was asked to
// start, spawned and ready, what it waited for, and the chain of waits
// that decided when the last of them was ready.
type StartUp struct {
	Begin    time.Time       `json:"begin"` // daemon_started, or the first start after --since
	BeginSeq events.Seq      `json:"begin_seq"`
	End      time.Time       `json:"end"` // the last worker ready
	Workers  []WorkerStartUp `json:"workers"`
	Critical []string        `json:"critical_chain"` // the first of the chain first
}

// WorkerStartUp is one worker's part of a start-up.
type WorkerStartUp struct {
	Name      string        `json:"name"`
	Requested time.Time     `json:"requested"`
	Spawned   time.Time     `json:"spawned"`
	Ready     time.Time     `json:"ready"` // running, or completed for a one-shot
	Waited    time.Duration `json:"waited"`
	WaitedFor []string      `json:"waited_for,omitempty"` // the workers its start waited for
}

// Worker returns the named worker's part.
func (a *StartUp) Worker(name string) *WorkerStartUp {
	for i := range a.Workers {
		if a.Workers[i].Name == name {
			return &a.Workers[i]
		}
	}
	return nil
}

// Analyze reads the last start-up of the log (or the first one after
// since): from a daemon_started, each worker's first start, spawn and
// ready after it, and the waits the log records. It needs the log alone,
// not the configuration: what a start waited for is in its waiting event.
func Analyze(log *store.Log, since time.Time) (StartUp, error) {
	var a StartUp
	from := events.Seq(1)
	if !since.IsZero() {
		s, err := log.SeqAt(since)
		if err != nil {
			return a, err
		}
		from = s + 1
	}
	// The start-up to read: the last daemon_started (or the first after
	// since), up to the next one.
	var begin, next events.Seq
	err := log.Scan(from, log.LastSeq(), func(e *events.Event) error {
		if e.Type != events.DaemonStarted {
			return nil
		}
		switch {
		case !since.IsZero() && begin == 0:
			begin = e.Seq
		case !since.IsZero():
			if next == 0 {
				next = e.Seq
			}
		default:
			begin = e.Seq
		}
		return nil
	})
	if err != nil || begin == 0 {
		return a, err
	}
	end := log.LastSeq()
	if next != 0 {
		end = next - 1
	}
	byName := map[string]*WorkerStartUp{}
	var order []string
	get := func(n string) *WorkerStartUp {
		w := byName[n]
		if w == nil {
			w = &WorkerStartUp{Name: n}
			byName[n] = w
			order = append(order, n)
		}
		return w
	}
	waitStart := map[string]time.Time{}
	err = log.Scan(begin, end, func(e *events.Event) error {
		if e.Seq == begin {
			a.Begin, a.BeginSeq = e.Time, e.Seq
			return nil
		}
		if e.Worker == "" || e.Stale {
			return nil
		}
		switch e.Type {
		case events.Waiting:
			if e.Policy != "start" {
				return nil
			}
			w := get(e.Worker)
			if w.Requested.IsZero() {
				w.Requested = e.Time
			}
			if _, ok := waitStart[e.Worker]; !ok && w.Spawned.IsZero() {
				waitStart[e.Worker] = e.Time
				w.WaitedFor = waitedFor(e.Cause)
			}
		case events.StartRequested, events.RestartRequested:
			if e.To != events.Starting {
				return nil
			}
			w := get(e.Worker)
			if w.Requested.IsZero() {
				w.Requested = e.Time
			}
			if t, ok := waitStart[e.Worker]; ok && w.Waited == 0 {
				w.Waited = e.Time.Sub(t)
			}
		case events.Spawned:
			if w := byName[e.Worker]; w != nil && w.Spawned.IsZero() {
				w.Spawned = e.Time
			}
		case events.Ready:
			if w := byName[e.Worker]; w != nil && w.Ready.IsZero() {
				w.Ready = e.Time
			}
		case events.Exited:
			if w := byName[e.Worker]; w != nil && w.Ready.IsZero() && strings.HasSuffix(e.Cause, ": completed") {
				w.Ready = e.Time
			}
		}
		return nil
	})
	if err != nil {
		return a, err
	}
	var last *WorkerStartUp
	for _, n := range order {
		w := byName[n]
		a.Workers = append(a.Workers, *w)
		if !w.Ready.IsZero() && (last == nil || w.Ready.After(last.Ready)) {
			last = w
		}
	}
	if last == nil {
		return a, nil
	}
	a.End = last.Ready
	// Walk back from the last one ready through what it waited for that
	// was ready last.
	seen := map[string]bool{}
	for w := last; w != nil && !seen[w.Name]; {
		seen[w.Name] = true
		a.Critical = append([]string{w.Name}, a.Critical...)
		var prev *WorkerStartUp
		for _, d := range w.WaitedFor {
			if dw := byName[d]; dw != nil && !dw.Ready.IsZero() && (prev == nil || dw.Ready.After(prev.Ready)) {
				prev = dw
			}
		}
		w = prev
	}
	return a, nil
}

// waitedFor reads the workers a waiting event names: "waiting for db
// (ready), migrate (completed); ..." (core's wording).
func waitedFor(cause string) []string {
	s := strings.TrimPrefix(cause, "waiting for ")
	if i := strings.Index(s, ";"); i >= 0 {
		s = s[:i]
	}
	var out []string
	for _, part := range strings.Split(s, ", ") {
		if i := strings.Index(part, " ("); i > 0 {
			out = append(out, part[:i])
		}
	}
	return out
}
