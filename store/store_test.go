package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/events"
)

func TestAppendReopenContinue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.tend")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := ev("web", events.StartRequested, 1), ev("web", events.Spawned, 2)
	if err := l.AppendWait(a, b); err != nil {
		t.Fatal(err)
	}
	if a.Seq != 1 || b.Seq != 2 || a.Prev != [32]byte{} {
		t.Fatalf("seqs %d,%d prev %x", a.Seq, b.Seq, a.Prev)
	}
	head := l.Head()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Append(ev("x", events.Ready, 3)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}

	l = openT(t, path, Options{})
	if l.LastSeq() != 2 || l.Head() != head {
		t.Fatalf("reopened at seq %d head %x, want 2 %x", l.LastSeq(), l.Head(), head)
	}
	c := ev("web", events.Ready, 3)
	if err := l.AppendWait(c); err != nil {
		t.Fatal(err)
	}
	if c.Seq != 3 || c.Prev != head {
		t.Fatalf("continued at seq %d prev %x, want 3 %x", c.Seq, c.Prev, head)
	}
	got, err := l.Get(2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != events.Spawned || got.PID != 1002 || got.Worker != "web" || !got.Time.Equal(b.Time) {
		t.Fatalf("Get(2) = %+v", got)
	}
	if _, err := l.Get(4); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(4): %v", err)
	}
	mustVerify(t, l)
}

func TestConcurrentAppenders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.tend")
	l := openT(t, path, Options{})
	const writers, each = 64, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				a, b := ev(fmt.Sprintf("w%d", w), events.Exited, i), ev(fmt.Sprintf("w%d", w), events.RestartScheduled, i)
				tk, err := l.Append(a, b)
				if err != nil {
					errs <- err
					return
				}
				if b.Seq != a.Seq+1 || tk.Last() != b.Seq {
					errs <- fmt.Errorf("one Append not contiguous: %d, %d, last %d", a.Seq, b.Seq, tk.Last())
				}
				if err := tk.Wait(); err != nil {
					errs <- err
					return
				}
				if l.LastSeq() < b.Seq {
					errs <- fmt.Errorf("ticket for %d resolved while LastSeq is %d", b.Seq, l.LastSeq())
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if l.LastSeq() != writers*each*2 {
		t.Fatalf("LastSeq %d, want %d", l.LastSeq(), writers*each*2)
	}
	r := mustVerify(t, l)
	if r.Events != writers*each*2 {
		t.Fatalf("verified %d events", r.Events)
	}
	n := 0
	if err := l.ScanWorker("w7", 0, func(e *events.Event) error { n++; return nil }); err != nil || n != each*2 {
		t.Fatalf("ScanWorker w7: %d events, %v", n, err)
	}
}

func TestTicketSemantics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.tend")
	l := openT(t, path, Options{})
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	l.fault = func(p FaultPoint) error {
		if p != FaultBeforeWrite {
			return nil
		}
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return nil
	}
	t1, err := l.Append(ev("a", events.StartRequested, 1))
	if err != nil {
		t.Fatal(err)
	}
	<-entered // the committer holds t1's commit open
	t2, err := l.Append(ev("a", events.Spawned, 2), ev("a", events.Ready, 3))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-t1.Done():
		t.Fatal("ticket resolved before its commit finished")
	case <-time.After(20 * time.Millisecond):
	}
	if t1.Err() != nil || l.LastSeq() != 0 {
		t.Fatalf("before commit: Err %v LastSeq %d", t1.Err(), l.LastSeq())
	}
	close(release)
	if err := t2.Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-t1.Done():
	default:
		t.Fatal("t2 resolved before t1")
	}
	if t1.Last() != 1 || t2.Last() != 3 || l.LastSeq() != 3 {
		t.Fatalf("Last %d %d, LastSeq %d", t1.Last(), t2.Last(), l.LastSeq())
	}
	tk, err := l.Append()
	if err != nil || tk.Wait() != nil {
		t.Fatalf("empty Append: %v", err)
	}
}

// Row 7 of the fault catalogue (cmd/tendd/fault_catalogue_test.go), at the
// store: a commit that fails at any point (before bbolt writes, after the
// pages are built, after bbolt synced) fails the log for good. Nothing is
// acknowledged that the caller was told failed, nothing is written through
// the handle any more, even once the disk works again, and opening the file
// again finds every acknowledged event, the failed commit either whole or
// absent, and a chain that verifies and goes on.
func TestFault_R07_CommitFailStops(t *testing.T) {
	eio := errors.New("input/output error (injected)")
	for _, p := range []FaultPoint{FaultBeforeWrite, FaultBeforeSync, FaultAfterSync} {
		t.Run(p.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log.tend")
			var fail atomic.Bool
			l, err := Open(path, Options{Fault: func(q FaultPoint) error {
				if q == p && fail.Load() {
					return eio
				}
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			l.indexLag = 1 // the failed commit writes index entries too
			acked := []*events.Event{ev("a", events.StartRequested, 1), ev("a", events.Spawned, 2), ev("a", events.Ready, 3)}
			if err := l.AppendWait(acked...); err != nil {
				t.Fatal(err)
			}
			fail.Store(true)
			tk, err := l.Append(ev("a", events.Exited, 4), ev("a", events.StartRequested, 5))
			if err != nil {
				t.Fatal(err)
			}
			err = tk.Wait()
			var ce *CommitError
			if !errors.Is(err, ErrFailed) || !errors.Is(err, eio) || !errors.As(err, &ce) || ce.First != 4 || ce.Last != 5 || ce.Path != path {
				t.Fatalf("failed commit: %v (%+v), want a CommitError of seq 4..5 wrapping ErrFailed and the disk error", err, ce)
			}
			fail.Store(false) // the disk works again; the log still refuses
			if _, err := l.Append(ev("a", events.Exited, 6)); !errors.Is(err, ErrFailed) || !errors.Is(err, eio) {
				t.Fatalf("Append after the failure: %v", err)
			}
			if err := l.SaveSnapshot(3, []byte("state")); !errors.Is(err, ErrFailed) {
				t.Fatalf("SaveSnapshot after the failure: %v", err)
			}
			if l.LastSeq() != 3 || l.Failed() == nil {
				t.Fatalf("LastSeq %d, Failed %v", l.LastSeq(), l.Failed())
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			l2 := openT(t, path, Options{})
			want := events.Seq(3)
			if p == FaultAfterSync {
				want = 5 // synced before the error: in the file, never acknowledged
			}
			if l2.LastSeq() != want {
				t.Fatalf("reopened at seq %d, want %d", l2.LastSeq(), want)
			}
			mustVerify(t, l2)
			for _, a := range acked {
				got, err := l2.Get(a.Seq)
				if err != nil || got.PID != a.PID || got.Type != a.Type || got.Prev != a.Prev {
					t.Fatalf("acknowledged seq %d: %+v, %v", a.Seq, got, err)
				}
			}
			next := ev("a", events.StartRequested, 7)
			if err := l2.AppendWait(next); err != nil || next.Seq != want+1 {
				t.Fatalf("append after reopening: seq %d, %v", next.Seq, err)
			}
			mustVerify(t, l2)
		})
	}
}

func TestFailedCommitFailsQueuedEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.tend")
	l := openT(t, path, Options{})
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	l.fault = func(p FaultPoint) error {
		if p != FaultBeforeWrite {
			return nil
		}
		entered <- struct{}{}
		<-release
		return errors.New("EIO (simulated)")
	}
	t1, _ := l.Append(ev("a", events.StartRequested, 1))
	<-entered
	t2, err := l.Append(ev("a", events.Spawned, 2)) // queued behind the failing commit
	if err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := t1.Wait(); !errors.Is(err, ErrFailed) {
		t.Fatalf("the failed commit: %v", err)
	}
	if err := t2.Wait(); !errors.Is(err, ErrFailed) {
		t.Fatalf("events queued behind a failed commit: %v", err)
	}
}

func TestScan(t *testing.T) {
	_, l := fillLog(t, 10000, 10)
	var seqs []events.Seq
	err := l.Scan(4090, 4100, func(e *events.Event) error { seqs = append(seqs, e.Seq); return nil })
	if err != nil || len(seqs) != 11 || seqs[0] != 4090 || seqs[10] != 4100 {
		t.Fatalf("Scan 4090..4100: %v %v", seqs, err)
	}
	n, last := 0, events.Seq(0)
	err = l.Scan(0, 0, func(e *events.Event) error {
		n++
		if e.Seq != last+1 {
			return fmt.Errorf("seq %d after %d", e.Seq, last)
		}
		last = e.Seq
		return nil
	})
	if err != nil || n != 10000 {
		t.Fatalf("full Scan: %d, %v", n, err)
	}
	stop := errors.New("stop")
	if err := l.Scan(1, 0, func(*events.Event) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn error not returned: %v", err)
	}

	tail, err := l.WorkerTail("w3", 5)
	if err != nil || len(tail) != 5 {
		t.Fatalf("WorkerTail: %d, %v", len(tail), err)
	}
	for i, e := range tail {
		if want := events.Seq(10000 - 10 + 4 - 50 + 10*(i+1)); e.Worker != "w3" || e.Seq != want {
			t.Fatalf("tail[%d] = %s seq %d, want w3 %d", i, e.Worker, e.Seq, want)
		}
	}
	if tail, err := l.WorkerTail("w9", 100000); err != nil || len(tail) != 1000 {
		t.Fatalf("WorkerTail w9 all: %d, %v", len(tail), err)
	}
	if tail, err := l.WorkerTail("nobody", 3); err != nil || len(tail) != 0 {
		t.Fatalf("WorkerTail nobody: %d, %v", len(tail), err)
	}
	var ws []events.Seq
	if err := l.ScanWorker("w1", 9000, func(e *events.Event) error { ws = append(ws, e.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ws) != 100 || ws[0] != 9002 || ws[99] != 9992 {
		t.Fatalf("ScanWorker w1 from 9000: %d, first %v", len(ws), ws[:1])
	}
	// w1 must not pick up w10.. (prefix match) — there is none here, so add one.
	if err := l.AppendWait(ev("w1x", events.Ready, 1)); err != nil {
		t.Fatal(err)
	}
	n = 0
	l.ScanWorker("w1", 0, func(e *events.Event) error {
		if e.Worker != "w1" {
			t.Errorf("ScanWorker w1 got %q", e.Worker)
		}
		n++
		return nil
	})
	if n != 1000 {
		t.Fatalf("ScanWorker w1: %d", n)
	}
}

func TestSeqAt(t *testing.T) {
	_, l := fillLog(t, 100, 3) // event i (seq i+1) at t0 + i ms
	for _, c := range []struct {
		at   time.Time
		want events.Seq
	}{
		{t0.Add(-time.Second), 0},
		{t0, 1},
		{t0.Add(50*time.Millisecond + 1), 51},
		{t0.Add(99 * time.Millisecond), 100},
		{t0.Add(time.Hour), 100},
	} {
		if got, err := l.SeqAt(c.at); err != nil || got != c.want {
			t.Errorf("SeqAt(%v) = %d, %v; want %d", c.at, got, err, c.want)
		}
	}
}

func TestSnapshots(t *testing.T) {
	path, l := fillLog(t, 20, 2)
	if seq, data, err := l.LoadSnapshot(); seq != 0 || data != nil || err != nil {
		t.Fatalf("no snapshot: %d %q %v", seq, data, err)
	}
	for _, s := range []events.Seq{5, 10, 15, 20} {
		if err := l.SaveSnapshot(s, []byte("state@"+strconv.Itoa(int(s)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SaveSnapshot(99, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("snapshot of a missing seq: %v", err)
	}
	seq, data, err := l.LoadSnapshot()
	if err != nil || seq != 20 || string(data) != "state@20" {
		t.Fatalf("LoadSnapshot = %d %q %v", seq, data, err)
	}
	l.Close()
	n := 0
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketSnapshots).Stats().KeyN
		// Tamper: the newest snapshot claims a hash that is not record 20's.
		v := append([]byte(nil), tx.Bucket(bucketSnapshots).Get(key(20))...)
		v[0] ^= 1
		return tx.Bucket(bucketSnapshots).Put(key(20), v)
	})
	if n != 3 {
		t.Fatalf("%d snapshots kept, want 3", n)
	}
	l = openT(t, path, Options{})
	seq, data, err = l.LoadSnapshot()
	if err != nil || seq != 15 || string(data) != "state@15" {
		t.Fatalf("LoadSnapshot after tamper = %d %q %v, want the one at 15", seq, data, err)
	}
	s, err := l.Snapshot()
	if err != nil || len(s.Skipped) != 1 || !strings.Contains(s.Skipped[0].Error(), "seq 20") {
		t.Fatalf("Snapshot report: %+v %v", s, err)
	}
}

func TestVerifyCatchesDamage(t *testing.T) {
	cases := []struct {
		name     string
		damage   func(tx *bolt.Tx) error
		firstBad events.Seq
		index    bool
	}{
		{"flipped byte", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketEvents)
			v := append([]byte(nil), b.Get(key(7))...)
			v[len(v)-1] ^= 0x10
			return b.Put(key(7), v)
		}, 7, false},
		{"deleted event", func(tx *bolt.Tx) error { return tx.Bucket(bucketEvents).Delete(key(7)) }, 7, true},
		{"reordered pair", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketEvents)
			v7, v8 := append([]byte(nil), b.Get(key(7))...), append([]byte(nil), b.Get(key(8))...)
			if err := b.Put(key(7), v8); err != nil {
				return err
			}
			return b.Put(key(8), v7)
		}, 7, false},
		{"forged record", func(tx *bolt.Tx) error {
			// A well-formed record, checksum and all, that was not the one
			// chained: only the Prev links can tell.
			var e events.Event
			if err := events.Decode(tx.Bucket(bucketEvents).Get(key(7)), &e); err != nil {
				return err
			}
			e.Cause = "forged"
			return tx.Bucket(bucketEvents).Put(key(7), events.Encode(nil, &e))
		}, 8, false},
		{"meta head", func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyHead, make([]byte, 32)) }, 30, false},
		{"index entry lost", func(tx *bolt.Tx) error {
			// seq 7 is event 6, of worker w0
			if tx.Bucket(bucketWorkers).Get(indexKey(nil, "w0", 7)) == nil {
				return errors.New("no index entry w0/7 to delete")
			}
			return tx.Bucket(bucketWorkers).Delete(indexKey(nil, "w0", 7))
		}, 0, true},
		{"index entry wrong worker", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketWorkers).Put(indexKey(nil, "w1", 6), nil) // seq 6 is w2's
		}, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, l := fillLog(t, 30, 3)
			mustVerify(t, l)
			l.Close()
			rawUpdate(t, path, c.damage)
			l = openT(t, path, Options{})
			var calls int
			r, err := l.Verify(func(done, total uint64) { calls++ })
			if err != nil {
				t.Fatal(err)
			}
			// Damage to a record also shows as index problems (its entry no
			// longer names a readable event of that worker); only damage
			// to the index alone must leave the records clean.
			if r.OK || r.FirstBad != c.firstBad || (c.index && r.IndexProblems == 0) || calls == 0 {
				t.Fatalf("Verify = %+v (progress calls %d), want FirstBad %d, index problems %v", *r, calls, c.firstBad, c.index)
			}
			if c.firstBad != 0 && r.Problem == "" {
				t.Fatal("no problem described")
			}
		})
	}
}

// A damaged byte anywhere in a record, its version byte included, is
// reported by every reader as a checksum failure at that seq, never as a
// record written by a newer tend.
func TestScanReportsBadRecord(t *testing.T) {
	path, l := fillLog(t, 20, 2)
	l.Close()
	var orig []byte
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		orig = bytes.Clone(tx.Bucket(bucketEvents).Get(key(12)))
		return nil
	})
	for i := range orig {
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			v := bytes.Clone(orig)
			v[i] ^= 0x04
			return tx.Bucket(bucketEvents).Put(key(12), v)
		})
		l, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		want := func(what string, err error) {
			t.Helper()
			var re *RecordError
			if !errors.Is(err, events.ErrChecksum) || errors.Is(err, events.ErrNewerVersion) || !errors.As(err, &re) ||
				re.Seq != 12 || re.Path != path || !strings.Contains(err.Error(), path+": seq 12") || !Damaged(err) {
				t.Fatalf("byte %d flipped: %s: %v, want a checksum error naming %s and seq 12", i, what, err, path)
			}
		}
		want("Scan", l.Scan(1, 0, func(*events.Event) error { return nil }))
		_, err = l.Get(12)
		want("Get", err)
		_, err = l.WorkerTail("w1", 20)
		want("WorkerTail", err)
		r, err := l.Verify(nil)
		if err != nil || r.OK || r.FirstBad != 12 || !strings.Contains(r.Problem, "checksum") {
			t.Fatalf("byte %d flipped: Verify = %+v, %v", i, r, err)
		}
		l.Close()
	}
}

func TestReadOnlyCopy(t *testing.T) {
	path, l := fillLog(t, 50, 5)
	l.Close()
	cp := filepath.Join(t.TempDir(), "copy.tend")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ro := openT(t, cp, Options{ReadOnly: true})
	if ro.LastSeq() != 50 {
		t.Fatalf("LastSeq %d", ro.LastSeq())
	}
	mustVerify(t, ro)
	if _, err := ro.Append(ev("a", events.Ready, 1)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Append on read-only: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "nope"), Options{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only open of a missing file: %v", err)
	}
}

func TestLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.tend")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	pr, pw, _ := os.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	defer func() { stdin.Close(); cmd.Wait() }()
	buf := make([]byte, 64)
	n, _ := pr.Read(buf)
	pr.Close()
	out.Write(buf[:n])
	if !strings.Contains(out.String(), "ready") {
		t.Fatalf("helper: %q", out.String())
	}
	for _, ro := range []bool{true, false} {
		start := time.Now()
		_, err := Open(path, Options{ReadOnly: ro, Timeout: 300 * time.Millisecond})
		took := time.Since(start)
		var oe *OpenError
		if !errors.Is(err, ErrLocked) || !errors.As(err, &oe) || oe.Path != path {
			t.Fatalf("ReadOnly=%v: %v, want ErrLocked", ro, err)
		}
		if took > 3*time.Second {
			t.Fatalf("ReadOnly=%v: took %v", ro, took)
		}
		for _, want := range []string{"pid " + strconv.Itoa(cmd.Process.Pid), "--db COPY"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("ReadOnly=%v: %q does not mention %q", ro, err, want)
			}
		}
	}
}

// A record replaced by a well-formed one (its checksum, seq and Prev all
// valid) is caught only by the next record's link, or by the meta head
// when it is the last.
func TestCheckChain(t *testing.T) {
	path, l := fillLog(t, 300, 3)
	if err := l.CheckChain(0); err != nil {
		t.Fatalf("a sound log: %v", err)
	}
	if err := l.CheckChain(250); err != nil {
		t.Fatalf("a sound tail: %v", err)
	}
	l.Close()
	alter := func(seq uint64) {
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketEvents)
			var d events.Decoder
			var e events.Event
			if err := d.Decode(b.Get(key(seq)), &e); err != nil {
				return err
			}
			e.Cause = "altered"
			return b.Put(key(seq), events.Encode(nil, &e))
		})
	}
	alter(200)
	l = openT(t, path, Options{ReadOnly: true})
	var re *RecordError
	if err := l.CheckChain(150); !errors.As(err, &re) || re.Seq != 201 || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("CheckChain over the altered record: %v, want seq 201 corrupt", err)
	}
	if err := l.CheckChain(201); !errors.As(err, &re) || re.Seq != 201 {
		t.Fatalf("CheckChain from the broken link: %v", err)
	}
	if err := l.CheckChain(202); err != nil {
		t.Fatalf("CheckChain after the damage: %v", err)
	}
	l.Close()
	alter(300)
	l = openT(t, path, Options{ReadOnly: true})
	if err := l.CheckChain(290); !errors.As(err, &re) || re.Seq != 300 || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("CheckChain over an altered last record: %v", err)
	}
}
