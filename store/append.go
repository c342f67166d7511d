package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/events"
)

// Ticket is the promise of one Append: it resolves when all of that call's
// events are committed and fsynced, or when their commit failed. Tickets
// resolve in seq order.
type Ticket struct {
	first, last events.Seq
	done        chan struct{}
	err         error // written once before done is closed
}

// Wait blocks until every event of the Append is durable, or returns the
// commit error.
func (t *Ticket) Wait() error {
	<-t.done
	return t.err
}

// Done is closed when the ticket resolves.
func (t *Ticket) Done() <-chan struct{} { return t.done }

// Err is the outcome once Done is closed; nil before that.
func (t *Ticket) Err() error {
	select {
	case <-t.done:
		return t.err
	default:
		return nil
	}
}

// Last is the seq of the Append's last event (0 for an empty Append).
func (t *Ticket) Last() events.Seq { return t.last }

func (t *Ticket) resolve(err error) {
	t.err = err
	close(t.done)
}

// batch is one Append's encoded records, waiting for the committer.
type batch struct {
	recs   [][]byte
	ticket *Ticket
}

// Append assigns the events their Seq (contiguous, following the last one
// handed out) and Prev (the chain), encodes them and queues them for the
// committer. It does no I/O: call Wait on the Ticket before acting on the
// events or telling anyone of them. The caller sets every other field.
//
// Once a commit failed Append returns an error wrapping the *CommitError
// (and so ErrFailed); nothing is queued and the events are not modified.
func (l *Log) Append(evs ...*events.Event) (*Ticket, error) {
	if l.readOnly {
		return nil, fmt.Errorf("store: append: %w", ErrReadOnly)
	}
	for _, e := range evs {
		if strings.IndexByte(e.Worker, 0) >= 0 {
			return nil, fmt.Errorf("store: append: %w: %q", ErrBadWorker, e.Worker)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closing:
		return nil, fmt.Errorf("store: append: %w", ErrClosed)
	case l.failed != nil:
		return nil, fmt.Errorf("store: append after seq %d: %w", l.durableSeq, l.failed)
	}
	t := &Ticket{first: l.nextSeq + 1, last: l.nextSeq + events.Seq(len(evs)), done: make(chan struct{})}
	if len(evs) == 0 {
		t.last = l.durableSeq
		t.resolve(nil)
		return t, nil
	}
	b := &batch{recs: make([][]byte, len(evs)), ticket: t}
	for i, e := range evs {
		e.Seq = l.nextSeq + 1
		e.Prev = l.nextHead
		l.scratch = events.Encode(l.scratch[:0], e)
		rec := make([]byte, len(l.scratch))
		copy(rec, l.scratch)
		b.recs[i] = rec
		l.nextSeq = e.Seq
		l.nextHead = events.Hash(rec)
	}
	l.queue = append(l.queue, b)
	l.wake()
	return t, nil
}

// AppendWait is Append followed by Wait.
func (l *Log) AppendWait(evs ...*events.Event) error {
	t, err := l.Append(evs...)
	if err != nil {
		return err
	}
	return t.Wait()
}

func (l *Log) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// commitLoop is the only writer of the file. Each round takes everything
// queued and commits it in one transaction, so appenders that arrive while a
// commit (and its fsync) runs share the next one. Once nothing is queued it
// brings the worker index up to date (catchUp).
func (l *Log) commitLoop() {
	defer close(l.done)
	for range l.kick {
		for {
			l.mu.Lock()
			q := l.queue
			l.queue = nil
			closing := l.closing
			l.mu.Unlock()
			if len(q) > 0 {
				l.commit(q)
				continue
			}
			if closing {
				return
			}
			if !l.catchUp() {
				break
			}
		}
	}
}

// inlineLag is how many times indexLag the worker index may trail before
// an event commit writes it itself: catchUp writes it only when nothing is
// queued, and a log that never goes quiet must still keep it within bounds.
const inlineLag = 4

// catchUp writes the worker index of the committed events in a transaction
// of its own, once more than indexLag of them wait for it and no event waits
// to be committed. It reports whether it wrote.
//
// The entries of a few thousand events for as many workers land on as many
// pages: at 1,000 workers putting them took 12.8 ms before the fsync, and,
// written with events, they delayed that commit, and the restart waiting
// for it, by as much. Here an append that arrives meanwhile waits for them
// only if it comes within that time.
func (l *Log) catchUp() bool {
	l.mu.Lock()
	behind := l.durableSeq - l.indexed
	ok := l.failed == nil
	l.mu.Unlock()
	if !ok || behind <= l.indexLag {
		return false
	}
	var indexed events.Seq
	err := l.update("worker index", func(tx *bolt.Tx) error {
		if err := l.injected(FaultIndex); err != nil {
			return err
		}
		if err := flushIndex(tx, 0); err != nil {
			return err
		}
		indexed = metaSeq(tx, keyIndexed)
		return nil
	})
	if err != nil {
		// Fail-stop, as for a commit of events: an index that cannot be
		// written is a file that cannot be trusted (update has failed the
		// log already when bbolt's own commit failed).
		var ce *CommitError
		if !errors.As(err, &ce) {
			l.poison(&CommitError{Path: l.path, What: "worker index", Err: err})
		}
		return false
	}
	l.mu.Lock()
	l.indexed = indexed
	l.mu.Unlock()
	return true
}

func (l *Log) commit(q []*batch) {
	last := q[len(q)-1]
	lastSeq := last.ticket.last
	head := events.Hash(last.recs[len(last.recs)-1])
	var indexed events.Seq
	err := guard(l.path, func() error {
		err := l.db.Update(func(tx *bolt.Tx) error {
			if err := l.injected(FaultBeforeWrite); err != nil {
				return err
			}
			if err := writeBatches(tx, q, lastSeq, head, inlineLag*l.indexLag); err != nil {
				return err
			}
			indexed = metaSeq(tx, keyIndexed)
			return l.injected(FaultBeforeSync)
		})
		if err == nil {
			err = l.injected(FaultAfterSync)
		}
		return err
	})
	if err != nil {
		// Fail-stop. After a failed write or fsync nobody knows what the
		// file holds: the kernel may have dropped the dirty pages it could
		// not write (and a later fsync succeeds without them), and bbolt
		// writes its meta page before the sync that failed, so the
		// transaction it rolled back can be live in the file and in bbolt's
		// own view of it. Nothing more is written through this handle;
		// opening the file again reads back what it holds.
		cerr := &CommitError{Path: l.path, First: q[0].ticket.first, Last: lastSeq, Err: err}
		l.poison(cerr)
		l.mu.Lock()
		more := l.queue
		l.queue = nil
		l.mu.Unlock()
		for _, b := range q {
			b.ticket.resolve(cerr)
		}
		for _, b := range more {
			b.ticket.resolve(fmt.Errorf("store: seq %d..%d queued behind a failed commit: %w", b.ticket.first, b.ticket.last, cerr))
		}
		return
	}
	l.mu.Lock()
	l.durableSeq = lastSeq
	l.durableHd = head
	l.indexed = indexed
	l.mu.Unlock()
	for _, b := range q {
		b.ticket.resolve(nil)
	}
}

// injected asks Options.Fault about point p.
func (l *Log) injected(p FaultPoint) error {
	if l.fault == nil {
		return nil
	}
	return l.fault(p)
}

// poison puts the log in the failed state for good, keeping the first
// failure.
func (l *Log) poison(err *CommitError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed == nil {
		l.failed = err
	}
}

// update runs fn in a write transaction other than a commit of events
// (what: a snapshot, the worker index): refused once the log is failed,
// and failing it when its own commit fails. An error fn returns is its own
// (bbolt wrote nothing).
func (l *Log) update(what string, fn func(tx *bolt.Tx) error) error {
	if err := l.Failed(); err != nil {
		return err
	}
	var fnErr error
	err := guard(l.path, func() error {
		return l.db.Update(func(tx *bolt.Tx) error {
			fnErr = fn(tx)
			return fnErr
		})
	})
	if err != nil && fnErr == nil {
		cerr := &CommitError{Path: l.path, What: what, Err: err}
		l.poison(cerr)
		return cerr
	}
	return err
}

func writeBatches(tx *bolt.Tx, q []*batch, lastSeq events.Seq, head [32]byte, lag events.Seq) error {
	evb, meta := tx.Bucket(bucketEvents), tx.Bucket(bucketMeta)
	if evb == nil || meta == nil {
		return errors.New("buckets missing")
	}
	// Seqs only grow, so full pages stay full; the index's keys arrive in
	// many places (one per worker) and keep bbolt's default fill.
	evb.FillPercent = 1.0
	meta.FillPercent = 1.0
	var key [8]byte
	for _, b := range q {
		for i, rec := range b.recs {
			seq := b.ticket.first + events.Seq(i)
			binary.BigEndian.PutUint64(key[:], uint64(seq))
			if err := evb.Put(key[:], rec); err != nil {
				return fmt.Errorf("store: append seq %d: %w", seq, err)
			}
		}
	}
	binary.BigEndian.PutUint64(key[:], uint64(lastSeq))
	if err := meta.Put(keyLast, key[:]); err != nil {
		return err
	}
	if err := meta.Put(keyHead, head[:]); err != nil {
		return err
	}
	return flushIndex(tx, lag)
}

// flushIndex writes the worker index entries of the committed events after
// meta "indexed", if more than lag of them wait, and advances "indexed".
//
// The index trails the log on purpose: written with each commit, its keys
// land in one place per worker, so a commit of 64 events for 64 workers
// dirtied about 64 index pages and group commit ran 3-4 times slower.
// Written every few thousand events, those pages are shared. Readers cover
// the unindexed tail (at most lag events, plus one commit) by scanning it.
func flushIndex(tx *bolt.Tx, lag events.Seq) error {
	meta, evb, idx := tx.Bucket(bucketMeta), tx.Bucket(bucketEvents), tx.Bucket(bucketWorkers)
	indexed := events.Seq(binary.BigEndian.Uint64(meta.Get(keyIndexed)))
	last := events.Seq(binary.BigEndian.Uint64(meta.Get(keyLast)))
	if last-indexed <= lag {
		return nil
	}
	c := evb.Cursor()
	ikey := make([]byte, 0, 64)
	for k, v := c.Seek(seqKey(indexed + 1)); k != nil; k, v = c.Next() {
		seq := events.Seq(binary.BigEndian.Uint64(k))
		worker, err := recordWorker(v)
		if err != nil {
			return fmt.Errorf("store: index seq %d: %w", seq, err)
		}
		if err := idx.Put(indexKey(ikey[:0], worker, seq), nil); err != nil {
			return fmt.Errorf("store: index seq %d: %w", seq, err)
		}
	}
	return meta.Put(keyIndexed, seqKey(last))
}

func indexKey(dst []byte, worker string, seq events.Seq) []byte {
	dst = append(dst, worker...)
	dst = append(dst, 0)
	return binary.BigEndian.AppendUint64(dst, uint64(seq))
}

// Failed returns the *CommitError once a commit failed (the log is failed
// for good), nil before.
func (l *Log) Failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}
