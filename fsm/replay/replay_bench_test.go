package replay

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/store"
)

// benchLogs caches built logs across benchmark runs in one process.
var benchLogs sync.Map

// buildLog writes n events of 1,000 workers cycling through their
// lifecycle, judged by the fsm as the daemon would, with a snapshot every
// 10,000 events as the daemon takes them.
func buildLog(b *testing.B, n int) string {
	if p, ok := benchLogs.Load(n); ok {
		return p.(string)
	}
	dir, err := os.MkdirTemp("", "tend-replay-bench")
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "tend.db")
	l, err := store.Open(path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	w := fsm.NewWorld()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []*events.Event
	add := func(e events.Event) {
		now = now.Add(time.Millisecond)
		e.Time = now
		if err := w.Decide(&e); err != nil {
			b.Fatal(err)
		}
		e.Seq = w.Seq + 1
		if err := w.Apply(&e); err != nil {
			b.Fatal(err)
		}
		batch = append(batch, &e)
		if len(batch) == 10_000 {
			if err := l.AppendWait(batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
			data, err := w.MarshalSnapshot()
			if err != nil {
				b.Fatal(err)
			}
			if err := l.SaveSnapshot(w.Seq, data); err != nil {
				b.Fatal(err)
			}
		}
	}
	const workers = 1000
	for i := 0; i < workers; i++ {
		add(events.Event{Type: events.WorkerAdded, Worker: fmt.Sprintf("w%04d", i), Actor: "bench", Cause: "added"})
	}
	for int(w.Seq) < n {
		for i := 0; i < workers && int(w.Seq) < n; i++ {
			name := fmt.Sprintf("w%04d", i)
			wk := w.Workers[name]
			switch wk.State {
			case events.Stopped, events.Killed:
				add(events.Event{Type: events.StartRequested, Worker: name, Actor: events.ActorPolicy, Cause: "restart"})
			case events.Starting:
				if wk.PID == 0 {
					add(events.Event{Type: events.Spawned, Worker: name, Incarnation: wk.Incarnation, Actor: "daemon", Cause: "spawned", Details: events.Details{PID: 1000 + i}})
				} else {
					add(events.Event{Type: events.Ready, Worker: name, Incarnation: wk.Incarnation, Actor: "daemon", Cause: "running"})
				}
			case events.Running:
				add(events.Event{Type: events.Exited, Worker: name, Incarnation: wk.Incarnation, Actor: "process", Cause: "process exit status 1", Details: events.Details{ExitCode: events.IntPtr(1)}})
			}
		}
	}
	if len(batch) > 0 {
		if err := l.AppendWait(batch...); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	benchLogs.Store(n, path)
	return path
}

// BenchmarkStartupReplay is the daemon's start-up: open the log, load the
// newest snapshot the chain vouches for, fold what came after it. It must
// stay flat as the log grows.
func BenchmarkStartupReplay(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			path := buildLog(b, n)
			b.ResetTimer()
			for b.Loop() {
				l, err := store.Open(path, store.Options{ReadOnly: true})
				if err != nil {
					b.Fatal(err)
				}
				w, st, err := World(l, 0)
				if err != nil {
					b.Fatal(err)
				}
				if len(w.Workers) != 1000 || st.SnapshotSeq == 0 {
					b.Fatalf("replay: %d workers, snapshot %d", len(w.Workers), st.SnapshotSeq)
				}
				l.Close()
			}
		})
	}
}

// BenchmarkFullReplay folds every event from the first, no snapshot: the
// cost `tend replay --seq` pays for an early seq.
func BenchmarkFullReplay(b *testing.B) {
	path := buildLog(b, 1_000_000)
	l, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ResetTimer()
	for b.Loop() {
		w := fsm.NewWorld()
		if err := l.Scan(1, 0, func(e *events.Event) error { return w.Apply(e) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(l.LastSeq())*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
