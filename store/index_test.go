package store

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/events"
)

// TestIndexTrailsLog checks worker queries against a plain filter of Scan
// while the index trails the log by up to indexLag events, at every step.
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
		if lag := l.LastSeq() - indexed; lag > 10 {
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
