package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/events"
)

// scanPage is how many events one read transaction covers. A long scan is a
// series of short transactions, so it never pins old pages (and the file's
// mapping) against the writer for long.
const scanPage = 4096

func seqKey(seq events.Seq) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(seq))
}

// RecordError is a record a read met and could not use: the file and the
// seq, and why. Err wraps ErrMissing, or an error of package events
// (events.ErrChecksum, events.ErrCorrupt for damage; events.ErrNewerVersion
// for a record a newer tend wrote).
type RecordError struct {
	Path string
	Seq  events.Seq
	Err  error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("store: %s: seq %d: %v", e.Path, e.Seq, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// Damaged says whether err is a record or a file that is damaged, as
// opposed to one a newer tend wrote, or a failure to read at all.
func Damaged(err error) bool {
	var re *RecordError
	if errors.As(err, &re) {
		return !errors.Is(err, events.ErrNewerVersion)
	}
	return errors.Is(err, ErrCorrupt)
}

// decodeAt decodes rec, stored under seq, checking that it is the record the
// key says it is.
func (l *Log) decodeAt(d *events.Decoder, seq events.Seq, rec []byte, e *events.Event) error {
	if err := d.Decode(rec, e); err != nil {
		return &RecordError{Path: l.path, Seq: seq, Err: err}
	}
	if e.Seq != seq {
		return &RecordError{Path: l.path, Seq: seq, Err: fmt.Errorf("%w: the key holds the record of seq %d", events.ErrCorrupt, e.Seq)}
	}
	return nil
}

// missing is the error for a seq the log should hold and does not.
func (l *Log) missing(seq events.Seq, how string) error {
	return &RecordError{Path: l.path, Seq: seq, Err: fmt.Errorf("%w%s", ErrMissing, how)}
}

// Get returns the event with that seq, or an error wrapping ErrNotFound.
func (l *Log) Get(seq events.Seq) (events.Event, error) {
	var e events.Event
	err := l.view(func(tx *bolt.Tx) error {
		rec := tx.Bucket(bucketEvents).Get(seqKey(seq))
		if rec == nil {
			return fmt.Errorf("store: get seq %d: %w", seq, ErrNotFound)
		}
		var d events.Decoder
		return l.decodeAt(&d, seq, rec, &e)
	})
	return e, err
}

// Scan calls fn for each event from..to inclusive, in seq order; to 0 means
// the last durable event when Scan starts. The *Event is reused between
// calls: copy what you keep. An error from fn stops the scan and is returned.
// A record that fails its checksum or does not decode stops the scan with an
// error naming its seq; so does a missing seq.
func (l *Log) Scan(from, to events.Seq, fn func(*events.Event) error) error {
	return l.scan(from, to, nil, fn)
}

// scan is Scan over the records for which match (if not nil) is true.
func (l *Log) scan(from, to events.Seq, match func(rec []byte) (bool, error), fn func(*events.Event) error) error {
	if from == 0 {
		from = 1
	}
	if to == 0 {
		to = l.LastSeq()
	}
	var (
		d    events.Decoder
		e    events.Event
		page = make([]events.Event, 0, scanPage)
	)
	for next := from; next <= to; {
		// Decode a page in one short transaction; fn runs outside it, so a
		// slow consumer holds no transaction open.
		page = page[:0]
		err := l.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketEvents).Cursor()
			k, v := c.Seek(seqKey(next))
			for n := 0; n < scanPage && next <= to; n++ {
				if k == nil || binary.BigEndian.Uint64(k) != uint64(next) {
					return l.missing(next, "")
				}
				ok := true
				if match != nil {
					var err error
					if ok, err = match(v); err != nil {
						return &RecordError{Path: l.path, Seq: next, Err: err}
					}
				}
				if ok {
					page = append(page, events.Event{})
					if err := l.decodeAt(&d, next, v, &page[len(page)-1]); err != nil {
						return err
					}
				}
				next++
				k, v = c.Next()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := deliver(page, &e, fn); err != nil {
			return err
		}
	}
	return nil
}

// defaultIndexLag bounds how many events may be committed before their
// worker index entries are (see flushIndex).
const defaultIndexLag = 4096

// recordWorker returns the worker name of a record, checking it first, by
// reading the layout the events package doc specifies: after the 57-byte
// header, the incarnation (uvarint), then the worker (uvarint length, bytes).
func recordWorker(rec []byte) (string, error) {
	w, err := recordWorkerBytes(rec)
	return string(w), err
}

func recordWorkerBytes(rec []byte) ([]byte, error) {
	if err := events.Check(rec); err != nil {
		return nil, err
	}
	b := rec[57:]
	if _, n := binary.Uvarint(b); n > 0 {
		b = b[n:]
		if wl, n := binary.Uvarint(b); n > 0 && wl <= uint64(len(b)-n) {
			return b[n : n+int(wl)], nil
		}
	}
	return nil, fmt.Errorf("%w: worker field truncated", events.ErrCorrupt)
}

// deliver hands each event of a page to fn through e, the one *Event a
// scan lends its caller, outside the read transaction.
func deliver(page []events.Event, e *events.Event, fn func(*events.Event) error) error {
	for i := range page {
		*e = page[i]
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func metaSeq(tx *bolt.Tx, key []byte) events.Seq {
	if v := tx.Bucket(bucketMeta).Get(key); len(v) == 8 {
		return events.Seq(binary.BigEndian.Uint64(v))
	}
	return 0
}

// ScanWorker calls fn for each event of worker with seq >= from, in seq
// order, through the worker index (no full scan; the few thousand newest
// events the index may not cover yet are scanned). Daemon-level events are
// those of worker "". The *Event is reused between calls.
func (l *Log) ScanWorker(worker string, from events.Seq, fn func(*events.Event) error) error {
	if from == 0 {
		from = 1
	}
	prefix := append([]byte(worker), 0)
	var (
		d    events.Decoder
		e    events.Event
		page = make([]events.Event, 0, scanPage)
	)
	next := from
	for {
		var indexed events.Seq
		page = page[:0]
		err := l.view(func(tx *bolt.Tx) error {
			indexed = metaSeq(tx, keyIndexed)
			evb := tx.Bucket(bucketEvents)
			c := tx.Bucket(bucketWorkers).Cursor()
			for k, _ := c.Seek(indexKey(nil, worker, next)); k != nil && bytes.HasPrefix(k, prefix) && len(page) < scanPage; k, _ = c.Next() {
				if len(k) != len(prefix)+8 {
					continue
				}
				s := events.Seq(binary.BigEndian.Uint64(k[len(prefix):]))
				rec := evb.Get(k[len(prefix):])
				if rec == nil {
					return l.missing(s, fmt.Sprintf(" (the index of worker %q names it)", worker))
				}
				page = append(page, events.Event{})
				if err := l.decodeAt(&d, s, rec, &page[len(page)-1]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := deliver(page, &e, fn); err != nil {
			return err
		}
		if len(page) == scanPage {
			next = page[len(page)-1].Seq + 1
			continue
		}
		// The index is exhausted up to indexed; the rest is the tail.
		next = max(next, indexed+1)
		break
	}
	return l.scan(next, 0, func(rec []byte) (bool, error) {
		w, err := recordWorkerBytes(rec)
		return string(w) == worker, err
	}, fn)
}

// WorkerTail returns the last n events of worker, oldest first.
func (l *Log) WorkerTail(worker string, n int) ([]events.Event, error) {
	if n <= 0 {
		return nil, nil
	}
	prefix := append([]byte(worker), 0)
	var out []events.Event
	err := l.view(func(tx *bolt.Tx) error {
		var seqs []events.Seq // newest first
		indexed, last := metaSeq(tx, keyIndexed), metaSeq(tx, keyLast)
		evb := tx.Bucket(bucketEvents)
		// The unindexed tail, newest first.
		ec := evb.Cursor()
		for k, v := ec.Seek(seqKey(last)); k != nil && len(seqs) < n; k, v = ec.Prev() {
			s := events.Seq(binary.BigEndian.Uint64(k))
			if s <= indexed {
				break
			}
			w, err := recordWorkerBytes(v)
			if err != nil {
				return &RecordError{Path: l.path, Seq: s, Err: err}
			}
			if string(w) == worker {
				seqs = append(seqs, s)
			}
		}
		// Then the index: seek past the worker's last possible key, walk back.
		c := tx.Bucket(bucketWorkers).Cursor()
		end := append(append([]byte(nil), prefix...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		k, _ := c.Seek(end)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(seqs) < n; k, _ = c.Prev() {
			if len(k) == len(prefix)+8 {
				seqs = append(seqs, events.Seq(binary.BigEndian.Uint64(k[len(prefix):])))
			}
		}
		out = make([]events.Event, len(seqs))
		var d events.Decoder
		for i, s := range seqs {
			rec := evb.Get(seqKey(s))
			if rec == nil {
				return l.missing(s, fmt.Sprintf(" (the index of worker %q names it)", worker))
			}
			if err := l.decodeAt(&d, s, rec, &out[len(seqs)-1-i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SeqAt returns the last seq whose event Time is at or before t, or 0 if
// there is none. It binary-searches over seq, relying on the supervisor's
// guarantee that times never decrease along the log.
func (l *Log) SeqAt(t time.Time) (events.Seq, error) {
	last := l.LastSeq()
	want := t.UnixNano()
	var found events.Seq
	err := l.view(func(tx *bolt.Tx) error {
		evb := tx.Bucket(bucketEvents)
		lo, hi := events.Seq(1), last // invariant: answer in [lo-1, hi]
		for lo <= hi {
			mid := lo + (hi-lo)/2
			rec := evb.Get(seqKey(mid))
			if rec == nil {
				return l.missing(mid, "")
			}
			if err := events.Check(rec); err != nil {
				return &RecordError{Path: l.path, Seq: mid, Err: err}
			}
			if recordTime(rec) <= want {
				found = mid
				lo = mid + 1
			} else {
				hi = mid - 1
			}
		}
		return nil
	})
	return found, err
}

// recordTime reads the time field of a checked record (offset 13, see the
// events package doc) without decoding the rest.
func recordTime(rec []byte) int64 { return int64(binary.BigEndian.Uint64(rec[13:21])) }
