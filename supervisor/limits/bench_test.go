package limits

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

const benchProcs = 200

func spawnSleepers(b *testing.B, n int) []int {
	b.Helper()
	pgids := make([]int, n)
	for i := range pgids {
		pgids[i] = spawn(b, exec.Command("sleep", "600"))
	}
	return pgids
}

// BenchmarkSampleTick measures one sampler tick over 200 watched single-
// process groups: the /proc listing, a pread of each member's kept-open stat
// file, aggregation and the Tracker. The budget is about 30 µs per worker.
func BenchmarkSampleTick(b *testing.B) {
	pgids := spawnSleepers(b, benchProcs)
	s := NewSampler(time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, pgid := range pgids {
		s.Watch(ctx, pgid, Spec{Memory: 1 << 40, CPU: 1000, MemoryPolicy: PolicyLog, CPUPolicy: PolicyLog}, func(Violation) {})
	}
	s.tick(time.Now()) // opens the stat files
	for _, pgid := range pgids {
		if smp, ok := s.Latest(pgid); !ok || smp.Procs != 1 {
			b.Fatalf("group %d sampled as %+v %v", pgid, smp, ok)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		s.tick(time.Now())
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/benchProcs, "µs/proc")
	if s.table != nil {
		s.table.close()
	}
}

// BenchmarkGopsutilTick is the same sweep done with gopsutil the cheapest
// way it allows (a cached *Process per pid, MemoryInfo and Percent(0), the
// boot time cached), without even discovering group members. It is the
// figure the direct /proc path is measured against.
func BenchmarkGopsutilTick(b *testing.B) {
	process.EnableBootTimeCache(true)
	pgids := spawnSleepers(b, benchProcs)
	procs := make([]*process.Process, len(pgids))
	for i, pid := range pgids {
		p, err := process.NewProcess(int32(pid))
		if err != nil {
			b.Fatal(err)
		}
		procs[i] = p
	}
	b.ResetTimer()
	for b.Loop() {
		for _, p := range procs {
			if _, err := p.MemoryInfo(); err != nil {
				b.Fatal(err)
			}
			if _, err := p.Percent(0); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/benchProcs, "µs/proc")
}
