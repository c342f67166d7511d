package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
)

// snapshotVersion is the version of the snapshot encoding. A snapshot is a
// cache of the fold, never the truth: one this code cannot read is ignored
// and the state is rebuilt from the log.
// Version 2 added the settings digest, the removal flag and the closing
// flag: a version 1 snapshot lacks what the events before it said of them.
// Version 3 added the runtime scales; a version 2 snapshot is read as
// having none, which it has: it was written by a tend that recorded no
// scaled event.
// Version 4 added the flag of a shutdown that left the workers running; a
// version 2 or 3 snapshot is read as without it, which it is: it was
// written by a tend that never recorded that policy.
const snapshotVersion = 4

// ErrSnapshotVersion says a snapshot was written by another version of tend.
var ErrSnapshotVersion = errors.New("fsm: snapshot written by another version")

type snapshot struct {
	Version int
	World   *World
}

// MarshalSnapshot encodes the world for the store's snapshot.
func (w *World) MarshalSnapshot() ([]byte, error) {
	b, err := json.Marshal(snapshot{Version: snapshotVersion, World: w})
	if err != nil {
		return nil, fmt.Errorf("fsm: encode snapshot at seq %d: %w", w.Seq, err)
	}
	return b, nil
}

// UnmarshalSnapshot decodes a snapshot made by MarshalSnapshot.
func UnmarshalSnapshot(b []byte) (*World, error) {
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("fsm: decode snapshot: %w", err)
	}
	if s.Version != snapshotVersion && s.Version != 2 && s.Version != 3 {
		return nil, fmt.Errorf("%w: version %d, this tend reads %d", ErrSnapshotVersion, s.Version, snapshotVersion)
	}
	if s.World == nil {
		return nil, fmt.Errorf("fsm: decode snapshot: no world")
	}
	if s.World.Workers == nil {
		s.World.Workers = make(map[string]*Worker)
	}
	for name, w := range s.World.Workers {
		if w == nil || w.Name != name || !w.State.Valid() {
			return nil, fmt.Errorf("fsm: decode snapshot: worker %q is malformed", name)
		}
	}
	return s.World, nil
}
