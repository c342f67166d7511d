// Package query answers questions about a log for the CLI and the daemon
// alike: the states at a moment (replay), and the times an operator may
// type. It reads through the read side (fsm/replay) and never imports the
// supervisor: the offline CLI on a copied log does not reach the OS edges.
package query

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm/replay"
	"github.com/tendhq/tend/store"
)

// ParseTime accepts RFC 3339 ("2026-03-14T03:14:07Z"), a local date and
// time ("2026-03-14 03:14:07"), a local time of today ("03:14:07"), or a
// duration before now ("15m").
func ParseTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			y, m, d := now.Date()
			return time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), 0, time.Local), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read time %q: use 2026-03-14T03:14:07Z, \"2026-03-14 03:14:07\", 03:14:07 or a duration like 15m", s)
}

// BadQuery is a query argument that cannot be read: the asker's mistake
// (a usage error), not a failure of the log.
type BadQuery struct{ Err error }

func (e *BadQuery) Error() string { return e.Err.Error() }
func (e *BadQuery) Unwrap() error { return e.Err }

func badQuery(format string, args ...any) error {
	return &BadQuery{Err: fmt.Errorf(format, args...)}
}

// ReplayAt folds the log up to a moment (at) or a seq; one of them is set.
// An argument it cannot read is a *BadQuery; anything else is the log's.
func ReplayAt(log *store.Log, at, seq string) (client.ReplayResult, error) {
	var until events.Seq
	switch {
	case at != "" && seq != "":
		return client.ReplayResult{}, badQuery("give --at or --seq, not both")
	case seq != "":
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil || n == 0 {
			return client.ReplayResult{}, badQuery("bad seq %q", seq)
		}
		if events.Seq(n) > log.LastSeq() {
			return client.ReplayResult{}, badQuery("seq %d is past the end of the log (last seq %d)", n, log.LastSeq())
		}
		until = events.Seq(n)
	case at != "":
		t, err := ParseTime(at, time.Now())
		if err != nil {
			return client.ReplayResult{}, &BadQuery{Err: err}
		}
		s, err := log.SeqAt(t)
		if err != nil {
			return client.ReplayResult{}, err
		}
		if s == 0 {
			return client.ReplayResult{Time: t, Workers: []client.WorkerStatus{}}, nil
		}
		until = s
	default:
		until = log.LastSeq()
	}
	w, _, err := replay.World(log, until)
	if err != nil {
		return client.ReplayResult{}, err
	}
	res := client.ReplayResult{Seq: w.Seq, Time: w.Time, Workers: []client.WorkerStatus{}}
	for _, n := range w.Names(false) {
		res.Workers = append(res.Workers, WorkerStatus(w.Workers[n]))
	}
	return res, nil
}
