package store

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/tendhq/tend/events"
)

// helperEnv makes the test binary act as another tend process holding a log
// open for writing (bbolt's flock does not conflict within one process).
const helperEnv = "TEND_STORE_TEST_HOLD"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		os.Exit(holdLog(path))
	}
	code := 0
	func() {
		defer cleanupBench()
		goleak.VerifyTestMain(&exitRecorder{m: m, code: &code})
	}()
	os.Exit(code)
}

// exitRecorder lets TestMain run cleanup after goleak's check: goleak calls
// os.Exit itself otherwise.
type exitRecorder struct {
	m    *testing.M
	code *int
}

func (r *exitRecorder) Run() int { *r.code = r.m.Run(); return *r.code }

// holdLog opens path RW, says "ready", and holds it until stdin closes.
func holdLog(path string) int {
	l, err := Open(path, Options{})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	l.Close()
	return 0
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// ev makes an event with the fields a test cares about; i varies its time.
func ev(worker string, typ events.Type, i int) *events.Event {
	return &events.Event{
		Time:        t0.Add(time.Duration(i) * time.Millisecond),
		Worker:      worker,
		Incarnation: events.Incarnation(i%7 + 1),
		Type:        typ,
		Actor:       events.ActorDaemon,
		Cause:       "test",
		Details:     events.Details{PID: 1000 + i},
	}
}

func openT(t testing.TB, path string, opts Options) *Log {
	t.Helper()
	l, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// mustVerify fails the test unless the log verifies clean.
func mustVerify(t testing.TB, l *Log) *Report {
	t.Helper()
	r, err := l.Verify(nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !r.OK {
		t.Fatalf("Verify: %+v", *r)
	}
	return r
}

// rawUpdate changes a closed log file with bbolt directly, as damage would.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func key(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// fillLog creates a log at a new temp path with n events over workers w0..w(k-1).
func fillLog(t *testing.T, n, k int) (string, *Log) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log.tend")
	l := openT(t, path, Options{})
	evs := make([]*events.Event, n)
	for i := range evs {
		evs[i] = ev(fmt.Sprintf("w%d", i%k), events.Types()[i%len(events.Types())], i)
	}
	if err := l.AppendWait(evs...); err != nil {
		t.Fatal(err)
	}
	return path, l
}
