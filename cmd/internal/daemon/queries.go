package daemon

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor"
)

// These read a log directly; the daemon serves them over its socket and
// the CLI runs them on a copied file (--db) for postmortems.

// History returns a worker's events since a time (zero: all), oldest
// first, at most limit of the newest.
func History(log *store.Log, worker string, since time.Time, limit int) ([]events.Event, error) {
	if since.IsZero() {
		return log.WorkerTail(worker, limit)
	}
	from, err := log.SeqAt(since)
	if err != nil {
		return nil, err
	}
	var ring []events.Event
	err = log.ScanWorker(worker, from+1, func(e *events.Event) error {
		if e.Time.Before(since) {
			return nil
		}
		ring = append(ring, *e)
		if len(ring) > 2*limit {
			ring = append(ring[:0:0], ring[len(ring)-limit:]...)
		}
		return nil
	})
	if len(ring) > limit {
		ring = ring[len(ring)-limit:]
	}
	return ring, err
}

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
	w, _, err := supervisor.Replay(log, until)
	if err != nil {
		return client.ReplayResult{}, err
	}
	res := client.ReplayResult{Seq: w.Seq, Time: w.Time, Workers: []client.WorkerStatus{}}
	for _, n := range w.Names(false) {
		res.Workers = append(res.Workers, client.FromWorker(w.Workers[n]))
	}
	return res, nil
}
