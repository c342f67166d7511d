package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/events"
)

// TestIndexTrailsLog checks worker queries against a plain filter of Scan
// while the index trails the log, by up to inlineLag times indexLag events,
// at every step.
func TestIndexTrailsLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.tend")
	l := openT(t, path, Options{})
	l.indexLag = 10
	workers := []string{"", "a", "ab", "b"} // "a" is a prefix of "ab"
	model := map[string][]events.Seq{}
	i := 0
	for round := range 25 {
		var batch []*events.Event
		for range round%7 + 1 {
			w := workers[(i*7+round)%len(workers)]
			batch = append(batch, ev(w, events.Exited, i))
			i++
		}
		if err := l.AppendWait(batch...); err != nil {
			t.Fatal(err)
		}
		for _, e := range batch {
			model[e.Worker] = append(model[e.Worker], e.Seq)
		}
		var indexed events.Seq
		l.view(func(tx *bolt.Tx) error { indexed = metaSeq(tx, keyIndexed); return nil })
		if lag := l.LastSeq() - indexed; lag > inlineLag*10 {
			t.Fatalf("round %d: index trails by %d", round, lag)
		}
		mustVerify(t, l)
		for _, w := range workers {
			want := model[w]
			for _, from := range []events.Seq{0, 5, l.LastSeq() / 2, l.LastSeq()} {
				var got []events.Seq
				if err := l.ScanWorker(w, from, func(e *events.Event) error {
					if e.Worker != w {
						return fmt.Errorf("worker %q in %q's history", e.Worker, w)
					}
					got = append(got, e.Seq)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				var exp []events.Seq
				for _, s := range want {
					if s >= from {
						exp = append(exp, s)
					}
				}
				if !slices.Equal(got, exp) {
					t.Fatalf("round %d: ScanWorker(%q, %d) = %v, want %v", round, w, from, got, exp)
				}
			}
			for _, n := range []int{1, 3, 1000} {
				tail, err := l.WorkerTail(w, n)
				if err != nil {
					t.Fatal(err)
				}
				var got []events.Seq
				for _, e := range tail {
					got = append(got, e.Seq)
				}
				exp := want[max(0, len(want)-n):]
				if !slices.Equal(got, exp) {
					t.Fatalf("round %d: WorkerTail(%q, %d) = %v, want %v", round, w, n, got, exp)
				}
			}
		}
	}
}

func TestVerifyIndexAheadOfMeta(t *testing.T) {
	path, l := fillLog(t, 30, 3)
	l.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		// An entry for an event the meta says is not indexed yet.
		return tx.Bucket(bucketMeta).Put(keyIndexed, seqKey(29))
	})
	l = openT(t, path, Options{})
	r, err := l.Verify(nil)
	if err != nil || r.OK || r.IndexProblems != 1 || r.FirstBad != 0 {
		t.Fatalf("Verify = %+v, %v; want one index problem", r, err)
	}
}

// The worker index is written in a transaction of its own, never in the
// commit of the events that take it past its lag: a restart waiting for
// that commit would wait for the index too. The index transaction is held
// here; the events' commit must be done without it, and the index must
// catch up once it is let go.
func TestIndexIsNotWrittenWithTheEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.tend")
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	l := openT(t, path, Options{Fault: func(p FaultPoint) error {
		if p == FaultIndex {
			once.Do(func() { close(held) })
			<-release
		}
		return nil
	}})
	l.indexLag = 10
	var batch []*events.Event
	for i := range 15 {
		batch = append(batch, ev("w"+strconv.Itoa(i%3), events.Exited, i))
	}
	if err := l.AppendWait(batch...); err != nil {
		t.Fatal(err)
	}
	var indexed events.Seq
	l.view(func(tx *bolt.Tx) error { indexed = metaSeq(tx, keyIndexed); return nil })
	if indexed != 0 {
		close(release)
		t.Fatalf("the commit of 15 events wrote their index (indexed %d): it waited for the index", indexed)
	}
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("the index was not written in a transaction of its own once the log went quiet")
	}
	// Appends go on while the index is written; they wait only for it.
	tk, err := l.Append(ev("w0", events.Spawned, 16))
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := tk.Wait(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for indexed < 15 {
		if time.Now().After(deadline) {
			t.Fatalf("indexed %d of 15 after the index transaction was let go", indexed)
		}
		time.Sleep(time.Millisecond)
		l.view(func(tx *bolt.Tx) error { indexed = metaSeq(tx, keyIndexed); return nil })
	}
	mustVerify(t, l)
	var got []events.Seq
	if err := l.ScanWorker("w0", 0, func(e *events.Event) error { got = append(got, e.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []events.Seq{1, 4, 7, 10, 13, 16}; !slices.Equal(got, want) {
		t.Fatalf("w0's events %v, want %v", got, want)
	}
}

// A worker index that cannot be written fails the log, as a commit of
// events that cannot be written does: nothing more is appended.
func TestAFailedIndexFailsTheLog(t *testing.T) {
	eio := syscall.EIO
	l := openT(t, filepath.Join(t.TempDir(), "log.tend"), Options{Fault: func(p FaultPoint) error {
		if p == FaultIndex {
			return eio
		}
		return nil
	}})
	l.indexLag = 2
	if err := l.AppendWait(ev("a", events.Exited, 1), ev("a", events.StartRequested, 2), ev("a", events.Spawned, 3)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.Failed() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the log did not fail when its index could not be written")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := l.Append(ev("a", events.Exited, 4)); !errors.Is(err, ErrFailed) || !errors.Is(err, eio) ||
		!strings.Contains(err.Error(), "commit of worker index") {
		t.Fatalf("Append after the index failed: %v", err)
	}
}
