package store

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/events"
)

func TestLogIDIsStableAndNewForACopy(t *testing.T) {
	path, l := fillLog(t, 50, 3)
	id := l.LogID()
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Fatalf("log id %q", id)
	}
	l.Close()
	if got := openT(t, path, Options{ReadOnly: true}).LogID(); got != id {
		t.Errorf("read-only open: log id %q, want %q", got, id)
	}
	out := filepath.Join(t.TempDir(), "rec.tend")
	if _, err := Recover(path, out, nil); err != nil {
		t.Fatal(err)
	}
	if got := openT(t, out, Options{ReadOnly: true}).LogID(); got == id || got == "" {
		t.Errorf("recovered copy has log id %q (the original's is %q): it must be a log of its own", got, id)
	}
}

// A log made before log ids gets one on its first writable open, and a
// read-only open of it neither adds one nor fails.
func TestLogIDAddedToAnOlderLog(t *testing.T) {
	path, l := fillLog(t, 5, 1)
	l.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyLogID) })
	ro := openT(t, path, Options{ReadOnly: true})
	if ro.LogID() != "" {
		t.Errorf("read-only: %q", ro.LogID())
	}
	ro.Close()
	w := openT(t, path, Options{})
	id := w.LogID()
	w.Close()
	if id == "" || openT(t, path, Options{ReadOnly: true}).LogID() != id {
		t.Errorf("log id not kept: %q", id)
	}
}

func TestCursors(t *testing.T) {
	path, l := fillLog(t, 20, 2)
	if seq, found, err := l.Cursor("export"); err != nil || seq != 0 || found {
		t.Fatalf("fresh cursor: %d %v %v", seq, found, err)
	}
	if err := l.SetCursor("export", 12); err != nil {
		t.Fatal(err)
	}
	if err := l.SetCursor("notify.ops", 0); err != nil {
		t.Fatal(err)
	}
	if err := l.SetCursor("export", 21); err == nil {
		t.Error("a cursor past the log's end was accepted")
	}
	l.Close()
	ro := openT(t, path, Options{ReadOnly: true})
	for name, want := range map[string]events.Seq{"export": 12, "notify.ops": 0, "other": 0} {
		if seq, found, err := ro.Cursor(name); err != nil || seq != want || found != (name != "other") {
			t.Errorf("cursor %s = %d %v %v, want %d", name, seq, found, err, want)
		}
	}
	if err := ro.SetCursor("export", 1); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only SetCursor: %v", err)
	}
	mustVerify(t, ro) // the cursors bucket is no part of the chain
}

// Records are the stored bytes: they hash into the chain, and an import
// of them is the same log, byte for byte, head and all.
func TestRecordsImportAsTheSameLog(t *testing.T) {
	_, l := fillLog(t, 10_000, 7)
	var recs []Record
	for from := events.Seq(1); ; {
		page, err := l.Records(from, 3000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		recs = append(recs, page...)
		from = page[len(page)-1].Seq + 1
	}
	if len(recs) != 10_000 {
		t.Fatalf("%d records", len(recs))
	}
	if events.Hash(recs[len(recs)-1].Data) != l.Head() {
		t.Fatal("the last record's hash is not the head")
	}
	dst := filepath.Join(t.TempDir(), "import.tend")
	im, err := NewImport(dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := im.Add(r.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	cp := openT(t, dst, Options{ReadOnly: true})
	mustVerify(t, cp)
	if cp.Head() != l.Head() || cp.LastSeq() != l.LastSeq() {
		t.Errorf("import: head/last differ")
	}
	tail, err := cp.WorkerTail("w3", 2)
	if err != nil || len(tail) != 2 {
		t.Errorf("WorkerTail on the import: %v %v", tail, err)
	}
	if _, err := NewImport(dst); err == nil {
		t.Error("an import over an existing file was accepted")
	}
}

func TestImportRefusesABrokenChain(t *testing.T) {
	_, l := fillLog(t, 20, 2)
	recs, err := l.Records(1, 100)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte { c := append([]byte(nil), b...); c[i] ^= 1; return c }
	cases := map[string]struct {
		recs [][]byte
		seq  events.Seq
	}{
		"tampered byte":  {[][]byte{recs[0].Data, recs[1].Data, flip(recs[2].Data, 70)}, 3},
		"gap":            {[][]byte{recs[0].Data, recs[2].Data}, 2},
		"reordered":      {[][]byte{recs[0].Data, recs[2].Data, recs[1].Data}, 2},
		"duplicate":      {[][]byte{recs[0].Data, recs[1].Data, recs[1].Data}, 3},
		"not from seq 1": {[][]byte{recs[1].Data}, 1},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "import.tend")
			im, err := NewImport(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer os.Remove(dst)
			var got error
			for _, r := range c.recs {
				if got = im.Add(r); got != nil {
					break
				}
			}
			im.Close()
			var ce *ChainError
			if !errors.As(got, &ce) || ce.Seq != c.seq {
				t.Fatalf("got %v, want a ChainError at seq %d", got, c.seq)
			}
			if err := im.Add(recs[0].Data); !errors.Is(err, ErrImportBroken) {
				t.Errorf("after a refusal: %v", err)
			}
		})
	}
}
