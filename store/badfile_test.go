package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/events"
)

// openBad opens path both ways and checks that each fails with want, as an
// *OpenError naming the path, and that the file's bytes are unchanged.
func openBad(t *testing.T, path string, want error) {
	t.Helper()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{true, false} {
		l, err := Open(path, Options{ReadOnly: ro})
		if err == nil {
			l.Close()
			t.Fatalf("ReadOnly=%v: opened a bad file", ro)
		}
		var oe *OpenError
		if !errors.Is(err, want) || !errors.As(err, &oe) || oe.Path != path {
			t.Fatalf("ReadOnly=%v: %v, want %v", ro, err, want)
		}
		t.Logf("ReadOnly=%v: %v", ro, err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatalf("Open modified the bad file (%d bytes before, %d after)", len(before), len(after))
	}
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bad.tend")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestOpenBadFiles(t *testing.T) {
	t.Run("empty", func(t *testing.T) { openBad(t, writeFile(t, nil), ErrEmpty) })
	t.Run("random", func(t *testing.T) { openBad(t, writeFile(t, randomBytes(64<<10)), ErrNotLog) })
	t.Run("short random", func(t *testing.T) { openBad(t, writeFile(t, randomBytes(100)), ErrNotLog) })
	t.Run("text", func(t *testing.T) {
		openBad(t, writeFile(t, bytes.Repeat([]byte("[workers]\nname = \"web\"\n"), 1000)), ErrNotLog)
	})
	t.Run("foreign bbolt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "other.db")
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		db.Update(func(tx *bolt.Tx) error {
			b, _ := tx.CreateBucket([]byte("meta"))
			return b.Put([]byte("magic"), []byte("someone else"))
		})
		db.Close()
		openBad(t, path, ErrNotLog)
	})
	t.Run("newer format", func(t *testing.T) {
		path, l := fillLog(t, 3, 1)
		l.Close()
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyFormat, binary.BigEndian.AppendUint32(nil, FormatVersion+1))
		})
		openBad(t, path, ErrNewerFormat)
	})
	t.Run("truncated", func(t *testing.T) {
		path, l := fillLog(t, 3000, 10)
		l.Close()
		data, _ := os.ReadFile(path)
		if len(data) < 64<<10 {
			t.Fatalf("log only %d bytes", len(data))
		}
		if err := os.WriteFile(path, data[:len(data)/2], 0o600); err != nil {
			t.Fatal(err)
		}
		openBad(t, path, ErrCorrupt)
	})
	t.Run("directory", func(t *testing.T) {
		if _, err := Open(t.TempDir(), Options{}); !errors.Is(err, ErrNotLog) {
			t.Fatalf("%v", err)
		}
	})
}

// TestDamagedPagesDoNotPanic overwrites the file's data pages (not its meta
// pages) with garbage: bbolt then reads nonsense and may panic; the Log's
// methods must return errors instead.
func TestDamagedPagesDoNotPanic(t *testing.T) {
	path, l := fillLog(t, 3000, 10)
	rec, err := l.Get(1500)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	data, _ := os.ReadFile(path)
	// Scribble over the leaf page that holds record 1500.
	at := bytes.Index(data, events.Encode(nil, &rec))
	if at < 0 {
		t.Fatal("record 1500 not found in the file")
	}
	page := at / 4096 * 4096
	copy(data[page:page+4096], randomBytes(4096))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open: %v (only one events leaf is damaged, so Open should succeed)", err)
	}
	defer l.Close()
	if r, err := l.Verify(nil); err == nil && r.OK {
		t.Fatal("Verify passed a file of garbage pages")
	} else {
		t.Logf("Verify: %v %+v", err, r)
	}
	if err := l.Scan(1, 0, func(*events.Event) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Scan over a garbage page: %v, want ErrCorrupt", err)
	} else {
		t.Logf("Scan: %v", err)
	}
	l.WorkerTail("w1", 10) // must not panic
	l.SeqAt(time.Now())
	l.LoadSnapshot()
}
