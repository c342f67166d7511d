package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/events"
)

// logIDLen is the size of a log's id, in bytes (hex twice as long).
const logIDLen = 16

var (
	keyLogID      = []byte("logid")
	bucketCursors = []byte("cursors")
)

// LogID is the log's stable id: 32 hex digits drawn at random when the log
// was created (or on the first writable open of a log made by a tend that
// had none). Readers off the host tell one log from another by it, and an
// exported event is named "<log id>:<seq>". It is not derived from the
// digest key and reveals nothing of it. A copy made by Recover is a new
// log with a new id: its events after the damage may differ from the
// original's. "" on a ReadOnly Log of a file that has none yet.
func (l *Log) LogID() string { return l.logID }

func newLogID() ([]byte, error) {
	id := make([]byte, logIDLen)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("log id: %w", err)
	}
	return id, nil
}

// loadLogID reads the log's id, first making one on a writable Log of a
// file that has none.
func (l *Log) loadLogID() error {
	return guard(l.path, func() error {
		var id []byte
		if err := l.db.View(func(tx *bolt.Tx) error {
			id = append(id, tx.Bucket(bucketMeta).Get(keyLogID)...)
			return nil
		}); err != nil {
			return err
		}
		switch {
		case len(id) == logIDLen:
			l.logID = hex.EncodeToString(id)
			return nil
		case len(id) != 0:
			return fmt.Errorf("%w: %s: meta log id is %d bytes, not %d", ErrCorrupt, l.path, len(id), logIDLen)
		case l.readOnly:
			return nil
		}
		id, err := newLogID()
		if err != nil {
			return err
		}
		if err := l.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyLogID, id) }); err != nil {
			return fmt.Errorf("store: %s: add a log id: %w", l.path, err)
		}
		l.logID = hex.EncodeToString(id)
		return nil
	})
}

// Cursor returns the seq a named reader of the log (an exporter, an alert
// sender) has finished with; found is false when it has none yet (a cursor
// at 0 is found: its reader has begun, before the first event).
func (l *Log) Cursor(name string) (seq events.Seq, found bool, err error) {
	err = l.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCursors)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(name))
		switch {
		case v == nil:
			return nil
		case len(v) != 8:
			return fmt.Errorf("%w: %s: cursor %q is %d bytes", ErrCorrupt, l.path, name, len(v))
		}
		seq, found = events.Seq(binary.BigEndian.Uint64(v)), true
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: cursor %q: %w", name, err)
	}
	return seq, found, nil
}

// SetCursor records that the named reader has finished with every event up
// to seq. It is its own small transaction, never part of an event commit:
// a cursor only ever trails the log, and a crash that loses its last
// update makes its reader repeat some events, never skip one. seq may not
// pass the last durable event.
func (l *Log) SetCursor(name string, seq events.Seq) error {
	if l.readOnly {
		return fmt.Errorf("store: cursor %q: %w", name, ErrReadOnly)
	}
	if name == "" {
		return fmt.Errorf("store: cursor: empty name")
	}
	if last := l.LastSeq(); seq > last {
		return fmt.Errorf("store: cursor %q: seq %d is past the last durable event %d", name, seq, last)
	}
	err := guard(l.path, func() error {
		return l.db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucketCursors)
			if err != nil {
				return err
			}
			return b.Put([]byte(name), seqKey(seq))
		})
	})
	if err != nil {
		return fmt.Errorf("store: cursor %q: %w", name, err)
	}
	return nil
}
