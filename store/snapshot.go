package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/events"
)

// keepSnapshots is how many snapshots SaveSnapshot keeps: more than one, so
// that a damaged newest one still leaves a usable older one.
const keepSnapshots = 3

// Snapshot is a saved state and what loading it found.
type Snapshot struct {
	Seq  events.Seq // the state includes every event up to and including Seq
	Data []byte
	// Skipped lists newer snapshots that were not trusted, newest first:
	// their stored hash did not match the record at their seq.
	Skipped []error
}

// SaveSnapshot stores data, the caller's state after applying every event up
// to and including seq, together with the chain hash of record seq, read back
// from the stored record (so a snapshot can only be tied to a durable event).
// It keeps the newest three snapshots.
func (l *Log) SaveSnapshot(seq events.Seq, data []byte) error {
	if l.readOnly {
		return fmt.Errorf("store: snapshot at seq %d: %w", seq, ErrReadOnly)
	}
	return l.update("snapshot", func(tx *bolt.Tx) error {
		rec := tx.Bucket(bucketEvents).Get(seqKey(seq))
		if rec == nil {
			return fmt.Errorf("store: snapshot at seq %d: %w", seq, ErrNotFound)
		}
		if err := events.Check(rec); err != nil {
			return fmt.Errorf("store: snapshot at seq %d: %w", seq, err)
		}
		h := events.Hash(rec)
		sb := tx.Bucket(bucketSnapshots)
		sb.FillPercent = 1.0
		if err := sb.Put(seqKey(seq), append(h[:], data...)); err != nil {
			return fmt.Errorf("store: snapshot at seq %d: %w", seq, err)
		}
		var old [][]byte
		c := sb.Cursor()
		n := 0
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			if n++; n > keepSnapshots {
				old = append(old, append([]byte(nil), k...))
			}
		}
		for _, k := range old {
			if err := sb.Delete(k); err != nil {
				return fmt.Errorf("store: snapshot at seq %d: prune: %w", seq, err)
			}
		}
		return nil
	})
}

// LoadSnapshot returns the newest snapshot whose stored hash equals the hash
// of the stored record at its seq, or (0, nil, nil) when there is none. A
// snapshot that does not match is never trusted; LoadSnapshot skips it
// silently, Snapshot reports it.
func (l *Log) LoadSnapshot() (seq events.Seq, data []byte, err error) {
	s, err := l.Snapshot()
	if err != nil || s == nil {
		return 0, nil, err
	}
	return s.Seq, s.Data, nil
}

// Snapshot is LoadSnapshot that also reports the snapshots it skipped. It
// returns nil, nil when there is no trustworthy snapshot and none was skipped,
// and a Snapshot with Seq 0 and only Skipped set when all were skipped.
func (l *Log) Snapshot() (*Snapshot, error) {
	var s Snapshot
	err := l.view(func(tx *bolt.Tx) error {
		evb := tx.Bucket(bucketEvents)
		c := tx.Bucket(bucketSnapshots).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if len(k) != 8 {
				s.Skipped = append(s.Skipped, fmt.Errorf("store: snapshot key %x malformed", k))
				continue
			}
			seq := events.Seq(binary.BigEndian.Uint64(k))
			if skip := snapshotProblem(evb, seq, v); skip != nil {
				s.Skipped = append(s.Skipped, fmt.Errorf("store: snapshot at seq %d skipped: %w", seq, skip))
				continue
			}
			s.Seq = seq
			s.Data = append([]byte{}, v[32:]...)
			return nil
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.Seq == 0 && len(s.Skipped) == 0 {
		return nil, nil
	}
	return &s, nil
}

func snapshotProblem(evb *bolt.Bucket, seq events.Seq, v []byte) error {
	if len(v) < 32 {
		return errors.New("shorter than its hash")
	}
	rec := evb.Get(seqKey(seq))
	if rec == nil {
		return errors.New("its event is not in the log")
	}
	if h := events.Hash(rec); string(h[:]) != string(v[:32]) {
		return errors.New("its hash does not match the stored record")
	}
	return nil
}
