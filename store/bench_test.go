package store

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tendhq/tend/events"
)

// The 1,000,000-event log the read benchmarks share, built once per process
// (only if a benchmark asks for it) and removed by TestMain.
var bigLog struct {
	once sync.Once
	dir  string
	path string
	err  error
}

const (
	bigEvents  = 1_000_000
	bigWorkers = 1000
)

func cleanupBench() {
	if bigLog.dir != "" {
		os.RemoveAll(bigLog.dir)
	}
}

// bigLogPath builds the shared log through the public API, 10,000 events per
// Append, so each commit is one large transaction.
func bigLogPath(b *testing.B) string {
	bigLog.once.Do(func() {
		bigLog.dir, bigLog.err = os.MkdirTemp("", "tend-store-bench-")
		if bigLog.err != nil {
			return
		}
		bigLog.path = filepath.Join(bigLog.dir, "big.tend")
		l, err := Open(bigLog.path, Options{})
		if err != nil {
			bigLog.err = err
			return
		}
		defer l.Close()
		types := events.Types()
		for i := 0; i < bigEvents && bigLog.err == nil; i += 10_000 {
			evs := make([]*events.Event, 10_000)
			for j := range evs {
				n := i + j
				evs[j] = ev(fmt.Sprintf("worker-%04d", n%bigWorkers), types[n%len(types)], n)
				evs[j].Cause = "benchmark event with a cause of typical length"
			}
			bigLog.err = l.AppendWait(evs...)
		}
		if bigLog.err == nil {
			bigLog.err = l.SaveSnapshot(bigEvents, make([]byte, 64<<10))
		}
	})
	if bigLog.err != nil {
		b.Fatal(bigLog.err)
	}
	return bigLog.path
}

func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			l, err := Open(filepath.Join(b.TempDir(), "log.tend"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if err := l.AppendWait(ev(fmt.Sprintf("w%d", w), events.Exited, int(i))); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func BenchmarkReplay(b *testing.B) {
	path := bigLogPath(b)
	l, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	size, _ := l.Size()
	b.ResetTimer()
	for range b.N {
		n := 0
		if err := l.Scan(1, 0, func(e *events.Event) error { n++; return nil }); err != nil || n != bigEvents {
			b.Fatalf("%d events, %v", n, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(bigEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(size)/(1<<20), "MiB/1M-events")
}

func BenchmarkWorkerHistory(b *testing.B) {
	path := bigLogPath(b)
	l, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.Run("WorkerTail100", func(b *testing.B) {
		for range b.N {
			if evs, err := l.WorkerTail("worker-0421", 100); err != nil || len(evs) != 100 {
				b.Fatalf("%d, %v", len(evs), err)
			}
		}
	})
	b.Run("ScanWorkerAll", func(b *testing.B) {
		for range b.N {
			n := 0
			if err := l.ScanWorker("worker-0421", 0, func(*events.Event) error { n++; return nil }); err != nil || n != bigEvents/bigWorkers {
				b.Fatalf("%d, %v", n, err)
			}
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	path := bigLogPath(b)
	for _, ro := range []bool{true, false} {
		b.Run(fmt.Sprintf("readonly=%v", ro), func(b *testing.B) {
			for range b.N {
				l, err := Open(path, Options{ReadOnly: ro})
				if err != nil {
					b.Fatal(err)
				}
				seq, _, err := l.LoadSnapshot()
				if err != nil || seq != bigEvents {
					b.Fatalf("snapshot %d, %v", seq, err)
				}
				l.Close()
			}
		})
	}
}
