package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/tendhq/tend/events"
)

// RecoverReport says what Recover copied and what it left behind.
type RecoverReport struct {
	Copied    uint64     // whole, chain-valid events written to the new file
	LastSeq   events.Seq // the last one copied
	SourceEnd events.Seq // the highest seq key found in the source
	FirstBad  events.Seq // the first seq not copied; 0 when everything was
	Problem   string     // why copying stopped there
	Dropped   uint64     // records in the source after the copied prefix
}

// Recover copies every whole, chain-valid event of src, from seq 1 up to
// the first that is missing, torn, forged or out of chain, into a new log
// at dst. src is opened read-only and never modified; dst must not exist.
// Records after the first bad one cannot be proven part of the chain and
// are reported, not copied.
func Recover(src, dst string, progress func(done, total uint64)) (*RecoverReport, error) {
	if _, err := os.Stat(dst); err == nil {
		return nil, fmt.Errorf("store: recover: %s already exists; choose a new file", dst)
	}
	db, err := openBolt(src, true, 0)
	if err != nil {
		return nil, &OpenError{Path: src, Err: err}
	}
	defer db.Close()
	out, err := Open(dst, Options{})
	if err != nil {
		return nil, err
	}
	rep := &RecoverReport{}
	var prev [32]byte
	want := events.Seq(1)
	var batch []*events.Event
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := out.AppendWait(batch...)
		batch = batch[:0]
		return err
	}
	// keep copies one whole record that extends the chain.
	keep := func(rec []byte, e events.Event) error {
		prev = events.Hash(rec)
		batch = append(batch, &e)
		rep.Copied++
		rep.LastSeq = want
		want++
		if len(batch) == 4096 {
			return flush()
		}
		return nil
	}
	var d events.Decoder
	stopped := false
	var metaLast events.Seq // what the source's meta says its last seq is
	err = guard(src, func() error {
		tx, err := db.Begin(false)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if m := tx.Bucket(bucketMeta); m != nil {
			metaLast = metaSeq(tx, keyLast)
			// The copy continues the same log: its settings digests
			// stay comparable with the ones already recorded.
			if err := out.adoptDigestKey(m.Get(keyDigest)); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketEvents)
		if b == nil {
			return fmt.Errorf("%w: no events bucket", ErrNotLog)
		}
		total := uint64(b.Stats().KeyN)
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				continue
			}
			seq := events.Seq(binary.BigEndian.Uint64(k))
			rep.SourceEnd = max(rep.SourceEnd, seq)
			if stopped {
				rep.Dropped++
				continue
			}
			problem := ""
			var e events.Event
			switch {
			case seq != want:
				problem = fmt.Sprintf("seq %d is missing (next record is seq %d)", want, seq)
				seq = want
			default:
				if err := d.Decode(v, &e); err != nil {
					problem = err.Error()
				} else if e.Seq != seq {
					problem = fmt.Sprintf("record under key %d says seq %d", seq, e.Seq)
				} else if !bytes.Equal(e.Prev[:], prev[:]) {
					problem = "its link to the previous record does not match (the chain is broken)"
				}
			}
			if problem != "" {
				stopped = true
				rep.FirstBad, rep.Problem = seq, problem
				rep.Dropped++
				continue
			}
			if err := keep(v, e); err != nil {
				return err
			}
			if progress != nil && rep.Copied%65536 == 0 {
				progress(rep.Copied, total)
			}
		}
		return flush()
	})
	if errors.Is(err, ErrCorrupt) && !stopped {
		// A page of the source faulted or failed bbolt's checks (a
		// truncated or torn file): bbolt cannot walk past it. The records
		// themselves may still be there: read the raw pages and go on from
		// where the walk stopped, as long as the chain holds.
		if found, serr := salvage(src); serr == nil {
			for {
				rec, ok := found[want]
				if !ok {
					break
				}
				var e events.Event
				if d.Decode(rec, &e) != nil || !bytes.Equal(e.Prev[:], prev[:]) {
					break
				}
				if ferr := keep(rec, e); ferr != nil {
					return rep, fmt.Errorf("store: recover %s → %s: %w", src, dst, ferr)
				}
			}
			for seq := range found {
				rep.SourceEnd = max(rep.SourceEnd, seq)
			}
		}
		stopped = true
		rep.FirstBad, rep.Problem = want, "the file cannot be read from here on: "+err.Error()
		rep.SourceEnd = max(rep.SourceEnd, metaLast)
		if rep.SourceEnd >= want {
			rep.Dropped = uint64(rep.SourceEnd - want + 1)
		} else {
			rep.Problem += " (how many records follow could not be read)"
		}
		err = flush()
	}
	if err == nil && rep.Copied > 0 && out.Head() != prev {
		err = errors.New("the copy's chain head differs from the source's")
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return rep, fmt.Errorf("store: recover %s → %s: %w", src, dst, err)
	}
	return rep, nil
}
