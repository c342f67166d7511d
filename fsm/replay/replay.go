// Package replay is the read side of tend's log: the world as it was at any
// seq, and a worker's history, folded from a store.Log through fsm. The
// daemon's own state is built by the same fold, so what a replay of a log
// says and what its daemon said cannot differ.
//
// It imports the log and the fold and nothing of the supervisor: the
// offline CLI, the report and the daemon's queries read through it without
// reaching the OS edges. It may not write to the log.
package replay

import (
	"fmt"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/store"
)

// Stats says how a replay was done.
type Stats struct {
	SnapshotSeq events.Seq // 0 when folded from the first event
	Folded      uint64     // events folded after the snapshot
}

// World folds the log into the world as it was after event until (0: the
// whole log). It starts from the newest snapshot the store trusts when that
// snapshot is not past until, so the daemon's start-up does not grow with
// the log; a snapshot this tend cannot read is ignored, never trusted.
func World(log *store.Log, until events.Seq) (*fsm.World, Stats, error) {
	var st Stats
	w := fsm.NewWorld()
	last := log.LastSeq()
	if until == 0 || until > last {
		until = last
	}
	if seq, data, err := log.LoadSnapshot(); err == nil && seq != 0 && seq <= until {
		if snap, err := fsm.UnmarshalSnapshot(data); err == nil && snap.Seq == seq {
			w = snap
			st.SnapshotSeq = seq
		}
	}
	if w.Seq >= until {
		return w, st, nil
	}
	err := log.Scan(w.Seq+1, until, func(e *events.Event) error {
		st.Folded++
		return w.Apply(e)
	})
	if err != nil {
		return nil, st, fmt.Errorf("replay %s to seq %d: %w", log.Path(), until, err)
	}
	return w, st, nil
}

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
