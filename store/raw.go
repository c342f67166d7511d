package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/events"
)

// Record is one event's record exactly as the log stores it: the bytes its
// checksum and the next record's chain link cover.
type Record struct {
	Seq  events.Seq
	Data []byte
}

// Records returns up to max records from seq from on, in order, as stored
// (copies, each checked against its checksum), stopping at the last durable
// event. A missing or damaged record is a *RecordError.
func (l *Log) Records(from events.Seq, max int) ([]Record, error) {
	if from == 0 {
		from = 1
	}
	last := l.LastSeq()
	if from > last || max <= 0 {
		return nil, nil
	}
	n := min(uint64(last-from)+1, uint64(max))
	out := make([]Record, 0, n)
	err := l.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		k, v := c.Seek(seqKey(from))
		for next := from; uint64(len(out)) < n; next++ {
			if k == nil || binary.BigEndian.Uint64(k) != uint64(next) {
				return l.missing(next, "")
			}
			if err := events.Check(v); err != nil {
				return &RecordError{Path: l.path, Seq: next, Err: err}
			}
			if events.RecordSeq(v) != next {
				return &RecordError{Path: l.path, Seq: next, Err: fmt.Errorf("%w: the key holds the record of seq %d", events.ErrCorrupt, events.RecordSeq(v))}
			}
			out = append(out, Record{Seq: next, Data: append([]byte(nil), v...)})
			k, v = c.Next()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ChainError is a record an import refused: the first one that is not
// the next link of the chain, and why.
type ChainError struct {
	Seq     events.Seq // the seq the import expected next
	Problem string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("store: import: seq %d: %s", e.Seq, e.Problem)
}

// ErrImportBroken: the import refused a record earlier (inside the
// error Add returns after that).
var ErrImportBroken = errors.New("store: import already refused a record")

// Import builds a new log from records read elsewhere (another host's log,
// pulled from a stream), checking each one as `tend verify` does before it
// is written: its checksum and version, that it decodes, that it is the
// next seq, and that it links to the record before it. The records are
// written byte for byte, so the new file's chain and head are the
// original's. The new file has its own digest key and log id.
type Import struct {
	l    *Log
	d    events.Decoder
	e    events.Event
	next events.Seq
	prev [32]byte
	buf  [][]byte
	bad  error
}

// importBatch is how many records one transaction of an import writes.
const importBatch = 4096

// NewImport creates the log at dst, which must not exist.
func NewImport(dst string) (*Import, error) {
	if _, err := os.Stat(dst); err == nil {
		return nil, fmt.Errorf("store: import: %s already exists; choose a new file", dst)
	}
	l, err := Open(dst, Options{})
	if err != nil {
		return nil, err
	}
	return &Import{l: l, next: 1}, nil
}

// Next is the seq the import expects next.
func (im *Import) Next() events.Seq { return im.next }

// Add checks rec and queues it for writing. A record that is not the next
// link is refused with a *ChainError, and so is everything after it.
func (im *Import) Add(rec []byte) error {
	if im.bad != nil {
		return fmt.Errorf("%w: %w", ErrImportBroken, im.bad)
	}
	problem := ""
	if err := im.d.Decode(rec, &im.e); err != nil {
		problem = err.Error()
	} else if im.e.Seq != im.next {
		problem = fmt.Sprintf("the record is seq %d", im.e.Seq)
	} else if im.e.Prev != im.prev {
		problem = "its link to the previous record does not match (altered, removed or reordered)"
	}
	if problem != "" {
		im.bad = &ChainError{Seq: im.next, Problem: problem}
		return im.bad
	}
	im.buf = append(im.buf, append([]byte(nil), rec...))
	im.prev = events.Hash(rec)
	im.next++
	if len(im.buf) >= importBatch {
		return im.flush()
	}
	return nil
}

func (im *Import) flush() error {
	if len(im.buf) == 0 {
		return nil
	}
	err := im.l.writeRaw(im.buf)
	im.buf = im.buf[:0]
	return err
}

// Close writes what is queued and closes the new log. Its path stays; the
// caller removes it when it is done with it.
func (im *Import) Close() error {
	err := im.flush()
	if cerr := im.l.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeRaw commits records that Import has checked, as the next records of
// a log nothing else appends to.
func (l *Log) writeRaw(recs [][]byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nextSeq != l.durableSeq || len(l.queue) > 0 {
		return errors.New("store: import: the log has appends of its own")
	}
	first := l.durableSeq + 1
	b := &batch{recs: recs, ticket: &Ticket{first: first, last: first + events.Seq(len(recs)) - 1}}
	head := events.Hash(recs[len(recs)-1])
	var indexed events.Seq
	err := guard(l.path, func() error {
		return l.db.Update(func(tx *bolt.Tx) error {
			if err := writeBatches(tx, []*batch{b}, b.ticket.last, head, l.indexLag); err != nil {
				return err
			}
			indexed = metaSeq(tx, keyIndexed)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store: import seq %d..%d to %s: %w", first, b.ticket.last, l.path, err)
	}
	l.durableSeq, l.nextSeq = b.ticket.last, b.ticket.last
	l.durableHd, l.nextHead = head, head
	l.indexed = indexed
	return nil
}
