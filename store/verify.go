package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/events"
)

// Report is what Verify found. Problems with the records are data, not
// errors: Verify returns an error only when it could not read the file.
type Report struct {
	Events        uint64     // records checked
	FirstBad      events.Seq // the first seq whose record, link or place is wrong; 0 if none
	Problem       string     // what is wrong at FirstBad (or with the meta); "" if OK
	IndexProblems int        // worker index entries that are wrong or missing
	OK            bool
}

// Verify checks the whole log: every record's version and checksum, that the
// keys run 1..last with no gap and each holds its own seq, that each record's
// Prev is the hash of the one before, that the meta's last seq and head match
// the last record, and that the worker index holds exactly one entry per
// event up to meta "indexed", under that event's worker, and none after. It reads in short transactions, like
// Scan. progress, if not nil, is called now and then with done and total
// counting each record twice: once when its record is checked, once when
// its index entry is.
func (l *Log) Verify(progress func(done, total uint64)) (*Report, error) {
	r := &Report{}
	bad := func(seq events.Seq, format string, args ...any) {
		if r.FirstBad == 0 && r.Problem == "" {
			r.FirstBad = seq
			r.Problem = fmt.Sprintf(format, args...)
		}
	}
	var meta durable
	if err := l.view(func(tx *bolt.Tx) error {
		var err error
		meta, err = checkFile(tx, -1)
		return err
	}); err != nil {
		return nil, fmt.Errorf("store: verify %s: %w", l.path, err)
	}
	total := 2 * uint64(meta.last)
	report := func(done uint64) {
		if progress != nil {
			progress(done, total)
		}
	}

	// Pass 1: records in key order.
	var (
		prevHash [32]byte
		expect   = events.Seq(1)
		after    []byte // resume key
		d        events.Decoder
		e        events.Event
		end      bool
	)
	for !end {
		err := l.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketEvents).Cursor()
			var k, v []byte
			if after == nil {
				k, v = c.First()
			} else if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for n := 0; n < scanPage; n++ {
				if k == nil {
					end = true
					return nil
				}
				after = append(after[:0], k...)
				if len(k) != 8 {
					bad(expect, "key %x is not an 8-byte seq", k)
					k, v = c.Next()
					continue
				}
				seq := events.Seq(binary.BigEndian.Uint64(k))
				if seq > meta.last && seq <= metaSeq(tx, keyLast) {
					// Committed since Verify began (a live daemon's
					// log): checked by the next Verify.
					end = true
					return nil
				}
				r.Events++
				switch {
				case seq != expect:
					bad(expect, "seq %d missing (next key is %d)", expect, seq)
				default:
					if err := d.Decode(v, &e); err != nil {
						bad(seq, "record: %v", err)
					} else if e.Seq != seq {
						bad(seq, "key %d holds the record of seq %d (reordered?)", seq, e.Seq)
					} else if e.Prev != prevHash {
						bad(seq, "prev hash does not match the record of seq %d (altered, removed or reordered)", seq-1)
					}
				}
				prevHash = events.Hash(v)
				expect = seq + 1
				if r.Events%scanPage == 0 {
					report(r.Events)
				}
				k, v = c.Next()
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: verify %s: %w", l.path, err)
		}
	}
	last := expect - 1
	switch {
	case last != meta.last:
		bad(min(last, meta.last)+1, "meta says the last seq is %d, the log ends at %d", meta.last, last)
	case prevHash != meta.head:
		bad(last, "meta head does not match the hash of the last record %d", last)
	}

	// Pass 2: the worker index. Each entry must name an existing event of
	// that worker, at or before meta "indexed". An event's index key is fixed
	// by its seq, so distinct valid entries name distinct events; with as
	// many valid entries as indexed events, the index holds exactly them.
	var valid uint64
	after, end = nil, false
	for !end {
		err := l.view(func(tx *bolt.Tx) error {
			evb := tx.Bucket(bucketEvents)
			c := tx.Bucket(bucketWorkers).Cursor()
			var k []byte
			if after == nil {
				k, _ = c.First()
			} else if k, _ = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, _ = c.Next()
			}
			for n := 0; n < scanPage; n++ {
				if k == nil {
					end = true
					return nil
				}
				after = append(after[:0], k...)
				// A live daemon's log may have indexed more since Verify
				// began: such entries are checked, but not counted.
				switch seq, ok := indexEntryOK(&d, &e, evb, k, max(meta.indexed, metaSeq(tx, keyIndexed))); {
				case !ok:
					r.IndexProblems++
				case seq <= meta.indexed:
					valid++
				}
				if (valid+uint64(r.IndexProblems))%scanPage == 0 {
					report(uint64(meta.last) + valid + uint64(r.IndexProblems))
				}
				k, _ = c.Next()
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: verify %s: %w", l.path, err)
		}
	}
	if valid < uint64(meta.indexed) {
		r.IndexProblems += int(uint64(meta.indexed) - valid) // events with no entry
	}
	report(total)
	r.OK = r.Problem == "" && r.IndexProblems == 0
	return r, nil
}

func indexEntryOK(d *events.Decoder, e *events.Event, evb *bolt.Bucket, k []byte, indexed events.Seq) (events.Seq, bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) != i+9 {
		return 0, false
	}
	seq := events.Seq(binary.BigEndian.Uint64(k[i+1:]))
	if seq > indexed {
		return seq, false // the index may trail the log, never lead it
	}
	rec := evb.Get(k[i+1:])
	if rec == nil || d.Decode(rec, e) != nil || e.Seq != seq {
		return seq, false
	}
	return seq, e.Worker == string(k[:i])
}

// CheckChain checks the chain from seq from to the end of the log: every
// record's checksum, that each record's Prev is the hash of the one before
// it (from's own link included), and that the meta head is the hash of the
// last. It is Verify's first pass over a part of the log, for a start-up
// to check the tail it folds after its snapshot: a checksum catches
// damage, only the chain catches a record replaced by a well-formed one.
// The error is a *RecordError wrapping ErrCorrupt (or ErrMissing) that
// names the first bad seq.
func (l *Log) CheckChain(from events.Seq) error {
	from = max(from, 1)
	last, head := l.LastSeq(), l.Head()
	if from > last {
		return nil
	}
	var prev [32]byte
	if from > 1 {
		if err := l.view(func(tx *bolt.Tx) error {
			rec := tx.Bucket(bucketEvents).Get(seqKey(from - 1))
			if rec == nil {
				return l.missing(from-1, "")
			}
			prev = events.Hash(rec)
			return nil
		}); err != nil {
			return err
		}
	}
	var (
		d events.Decoder
		e events.Event
	)
	for next := from; next <= last; {
		err := l.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketEvents).Cursor()
			k, v := c.Seek(seqKey(next))
			for n := 0; n < scanPage && next <= last; n++ {
				if k == nil || binary.BigEndian.Uint64(k) != uint64(next) {
					return l.missing(next, "")
				}
				if err := l.decodeAt(&d, next, v, &e); err != nil {
					return err
				}
				if e.Prev != prev {
					return &RecordError{Path: l.path, Seq: next, Err: fmt.Errorf("%w: prev hash does not match the record of seq %d (altered, removed or reordered)", ErrCorrupt, next-1)}
				}
				prev = events.Hash(v)
				next++
				k, v = c.Next()
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if prev != head {
		return &RecordError{Path: l.path, Seq: last, Err: fmt.Errorf("%w: the meta head does not match the hash of the last record", ErrCorrupt)}
	}
	return nil
}
