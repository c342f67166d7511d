package limits

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/process"
	"golang.org/x/sys/unix"
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

// sleepersIn makes n cgroups under one parent, each with a sleeping
// process born in it, and waits for every one's counter to stand still.
func sleepersIn(b *testing.B, n int) []*cgdir {
	b.Helper()
	first := newCgdir(b)
	cs := []*cgdir{first}
	for i := 1; i < n; i++ {
		cs = append(cs, newCgdirIn(b, filepath.Dir(first.dir), "w"+strconv.Itoa(i)))
	}
	for _, c := range cs {
		startIn(b, c, exec.Command("sleep", "600"))
	}
	for _, c := range cs {
		waitIdle(b, c)
	}
	return cs
}

// cgopen is cgdir whose counter is opened, read and closed each time, as
// *cgroup.Group's CPUTime does.
type cgopen struct{ *cgdir }

func (c cgopen) CPUTime() (time.Duration, error) {
	fd, err := unix.Open(filepath.Join(c.dir, "cpu.stat"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return usageAt(fd)
}

// BenchmarkCountedTick measures the members path of a tick over 200
// incarnations with a sleeping process each, per incarnation:
//
//	still   the counter above them stands still: it alone is read
//	kept    each one's counter through a kept descriptor, none moved
//	open    each one's counter opened, read and closed, none moved
//	listed  each one listed and its member's statm read, every tick
//
// CPU time, not wall time. On a 2-vCPU VM with page-table isolation
// (a system call costs 1 µs): about 1 (the refresh of one in
// refreshMembers), 7, 15 and 24 µs.
func BenchmarkCountedTick(b *testing.B) {
	cs := sleepersIn(b, benchProcs)
	reads := new(int)
	for _, kind := range []string{"still", "kept", "open", "listed"} {
		b.Run(kind, func(b *testing.B) {
			ms := make([]Members, len(cs))
			for i, c := range cs {
				switch kind {
				case "still":
					ms[i] = cgshared{c, reads}
				case "kept", "listed":
					ms[i] = cgfile{c}
				case "open":
					ms[i] = cgopen{c}
				}
			}
			m := newMemberTable()
			defer m.close()
			m.share = len(cs)
			if kind == "listed" {
				m.refresh = 1
			}
			now := time.Now()
			tick := func() {
				m.begin()
				now = now.Add(time.Second)
				for i, mem := range ms {
					if g, _, _, ok := m.sample(uint64(i+1), mem, now, 4096, 100); !ok || g.procs != 1 {
						b.Fatalf("%s: %+v %v", cs[i].dir, g, ok)
					}
				}
				m.end(now)
			}
			tick()
			tick()
			b.ResetTimer()
			c0 := cpuTime(b)
			for b.Loop() {
				tick()
			}
			b.ReportMetric(float64((cpuTime(b)-c0).Nanoseconds())/1e3/float64(b.N)/float64(len(cs)), "cpu-µs/worker")
		})
	}
}

// cpuTime is the CPU time the test process has used: the machine may be
// busy with other work, which makes wall time say little.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFileReads measures one read of each file a tick may read,
// going round 200 processes and cgroups as a tick does: what a tick can
// cost at least, per worker, on this machine.
func BenchmarkFileReads(b *testing.B) {
	cs := sleepersIn(b, benchProcs)
	pids := make([]int, len(cs))
	for i, c := range cs {
		p, err := c.AppendProcs(nil)
		if err != nil || len(p) != 1 {
			b.Fatalf("%s: %v %v", c.dir, p, err)
		}
		pids[i] = p[0]
	}
	buf := make([]byte, 4096)
	names := func(f func(i int) string) []string {
		out := make([]string, len(cs))
		for i := range cs {
			out[i] = f(i)
		}
		return out
	}
	files := []struct {
		name  string
		paths []string
	}{
		{"proc-stat", names(func(i int) string { return "/proc/" + strconv.Itoa(pids[i]) + "/stat" })},
		{"proc-statm", names(func(i int) string { return "/proc/" + strconv.Itoa(pids[i]) + "/statm" })},
		{"cgroup.procs", names(func(i int) string { return filepath.Join(cs[i].dir, "cgroup.procs") })},
		{"cpu.stat", names(func(i int) string { return filepath.Join(cs[i].dir, "cpu.stat") })},
	}
	for _, f := range files {
		b.Run(f.name+"/open-read-close", func(b *testing.B) {
			i := 0
			c0 := cpuTime(b)
			defer func() { b.ReportMetric(float64((cpuTime(b)-c0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
			for b.Loop() {
				fd, err := unix.Open(f.paths[i%len(f.paths)], unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := unix.Read(fd, buf); err != nil {
					b.Fatal(err)
				}
				unix.Close(fd)
				i++
			}
		})
		b.Run(f.name+"/kept-pread", func(b *testing.B) {
			fds := make([]int, len(f.paths))
			for i, p := range f.paths {
				fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					b.Fatal(err)
				}
				fds[i] = fd
			}
			defer func() {
				for _, fd := range fds {
					unix.Close(fd)
				}
			}()
			i := 0
			c0 := cpuTime(b)
			defer func() { b.ReportMetric(float64((cpuTime(b)-c0).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
			for b.Loop() {
				if _, err := unix.Pread(fds[i%len(fds)], buf, 0); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	b.Run("getpid", func(b *testing.B) {
		for b.Loop() {
			unix.Getpid()
		}
	})
}
