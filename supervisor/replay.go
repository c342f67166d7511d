package supervisor

import (
	"fmt"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/store"
)

// ReplayStats says how a replay was done.
type ReplayStats struct {
	SnapshotSeq events.Seq // 0 when folded from the first event
	Folded      uint64     // events folded after the snapshot
}

// Replay folds the log into the world as it was after event until (0: the
// whole log). It starts from the newest snapshot the store trusts when that
// snapshot is not past until, so the daemon's start-up does not grow with
// the log; a snapshot this tend cannot read is ignored, never trusted.
//
// The daemon's live state is built by this same fold, so a replay of its
// log and its own view cannot differ.
func Replay(log *store.Log, until events.Seq) (*fsm.World, ReplayStats, error) {
	var st ReplayStats
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
		return nil, st, fmt.Errorf("supervisor: replay %s to seq %d: %w", log.Path(), until, err)
	}
	return w, st, nil
}
