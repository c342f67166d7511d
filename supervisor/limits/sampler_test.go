package limits

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/process"
	"go.uber.org/goleak"
)

func startSampler(t *testing.T, interval time.Duration) *Sampler {
	t.Helper()
	s := NewSampler(interval)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s
}

// watch registers pgid and returns a channel of its violations.
func watch(t *testing.T, s *Sampler, ctx context.Context, pgid int, spec Spec) <-chan Violation {
	t.Helper()
	ch := make(chan Violation, 16)
	s.Watch(ctx, pgid, spec, func(v Violation) {
		select {
		case ch <- v:
		default:
			t.Errorf("report channel full, dropped %+v", v)
		}
	})
	return ch
}

func await(t *testing.T, ch <-chan Violation) Violation {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatal("no violation within 15s")
		return Violation{}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Sampler) registrations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.regs)
}

func TestMemoryLimit(t *testing.T) {
	pgid := spawnHelper(t, "alloc:64")
	s := startSampler(t, 50*time.Millisecond)
	spec := Spec{Memory: 32 * mib, Sustained: 150 * time.Millisecond, MemoryPolicy: PolicyKill}
	v := await(t, watch(t, s, t.Context(), pgid, spec))
	if v.Resource != ResourceMemory || v.Policy != PolicyKill || v.Limit != 32*mib {
		t.Fatalf("violation %+v", v)
	}
	// Over the limit (it may still be growing towards its 64 MiB), and
	// not the whole machine.
	if v.Measured <= 32*mib || v.Measured > 200*mib {
		t.Errorf("measured %s for a worker growing to 64 MiB, limit 32 MiB", formatBytes(v.Measured))
	}
	if v.At.Sub(v.Since) < spec.Sustained || !strings.HasPrefix(v.Detail, "RSS ") {
		t.Errorf("violation %+v", v)
	}
}

func TestGroupMembersCounted(t *testing.T) {
	// The leader is small; only its child (same group) holds 48 MiB.
	pgid := spawnHelper(t, "fork:48")
	s := startSampler(t, 50*time.Millisecond)
	ch := watch(t, s, t.Context(), pgid, Spec{Memory: 40 * mib, MemoryPolicy: PolicyLog})
	// The violation fires as soon as the group passes 40 MiB, which only
	// the child can make it do (the child may still be growing to 48 MiB).
	v := await(t, ch)
	if v.Measured <= 40*mib {
		t.Errorf("measured %s, not above the 40 MiB limit", formatBytes(v.Measured))
	}
	smp, ok := s.Latest(pgid)
	if !ok || smp.Procs != 2 {
		t.Fatalf("latest %+v %v, want 2 procs", smp, ok)
	}
	// The figure matches what gopsutil reads for the two processes.
	leader, err := process.NewProcess(int32(pgid))
	if err != nil {
		t.Fatal(err)
	}
	children, err := leader.Children()
	if err != nil || len(children) != 1 {
		t.Fatalf("children %v %v", children, err)
	}
	// The child may still be growing when the violation fires: compare once
	// a sample taken after a gopsutil reading agrees with it.
	var got, want uint64
	eventually(t, "RSS to agree with gopsutil", func() bool {
		want = 0
		for _, p := range []*process.Process{leader, children[0]} {
			mi, err := p.MemoryInfo()
			if err != nil {
				t.Fatal(err)
			}
			want += mi.RSS
		}
		read := time.Now()
		eventually(t, "a newer sample", func() bool { smp, _ := s.Latest(pgid); return smp.At.After(read) })
		smp, _ := s.Latest(pgid)
		got = smp.RSS
		return absDiff(got, want) <= 2*mib
	})
	t.Logf("RSS %s, gopsutil %s", formatBytes(float64(got)), formatBytes(float64(want)))
}

func TestCPULimit(t *testing.T) {
	pgid := spawn(t, exec.Command("sh", "-c", "while :; do :; done"))
	s := startSampler(t, 50*time.Millisecond)
	spec := Spec{CPU: 20, Sustained: 200 * time.Millisecond, CPUPolicy: PolicyRestart, Memory: 1 << 40, MemoryPolicy: PolicyLog}
	v := await(t, watch(t, s, t.Context(), pgid, spec))
	if v.Resource != ResourceCPU || v.Policy != PolicyRestart || v.Measured <= 20 || v.Measured > 250 {
		t.Fatalf("violation %+v", v)
	}
	if !strings.HasPrefix(v.Detail, "CPU ") || !strings.Contains(v.Detail, "> limit 20% for") {
		t.Errorf("detail %q", v.Detail)
	}
}

func TestIdleWorkerIsQuiet(t *testing.T) {
	pgid := spawn(t, exec.Command("sleep", "60"))
	s := startSampler(t, 20*time.Millisecond)
	ch := watch(t, s, t.Context(), pgid, Spec{Memory: 64 * mib, CPU: 50, MemoryPolicy: PolicyKill, CPUPolicy: PolicyKill})
	eventually(t, "a CPU figure", func() bool { smp, ok := s.Latest(pgid); return ok && smp.CPUValid })
	time.Sleep(200 * time.Millisecond)
	select {
	case v := <-ch:
		t.Fatalf("idle sleep reported %+v", v)
	default:
	}
	smp, _ := s.Latest(pgid)
	if smp.Procs != 1 || smp.RSS == 0 || smp.RSS > 16*mib || smp.CPU > 5 {
		t.Errorf("sleep sampled as %+v", smp)
	}
}

func TestWatchEndsWithContext(t *testing.T) {
	pgid := spawn(t, exec.Command("sleep", "60"))
	s := startSampler(t, 20*time.Millisecond)
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	ch := watch(t, s, ctx, pgid, Spec{Memory: 1, MemoryPolicy: PolicyLog})
	await(t, ch)
	cancel()
	eventually(t, "the registration to end", func() bool { return s.registrations() == 0 })
	if _, ok := s.Latest(pgid); ok {
		t.Error("Latest still answers for an unwatched group")
	}
	// The limit is still exceeded, but nobody listens any more.
	time.Sleep(100 * time.Millisecond)
	select {
	case v := <-ch:
		t.Fatalf("report after the watch ended: %+v", v)
	default:
	}
	goleak.VerifyNone(t, before)
}

func TestVanishedGroupDropped(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	pgid := spawn(t, cmd)
	s := startSampler(t, 20*time.Millisecond)
	ch := watch(t, s, t.Context(), pgid, Spec{Memory: 1 << 40, MemoryPolicy: PolicyKill})
	eventually(t, "a first sample", func() bool { _, ok := s.Latest(pgid); return ok })
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	_ = cmd.Wait()
	eventually(t, "the group to be dropped", func() bool { return s.registrations() == 0 })
	if _, ok := s.Latest(pgid); ok {
		t.Error("Latest still answers for a vanished group")
	}
	select {
	case v := <-ch:
		t.Fatalf("vanished group reported %+v", v)
	default:
	}
}

func TestWatchRejectsNonsense(t *testing.T) {
	s := NewSampler(0)
	report := func(Violation) {}
	s.Watch(t.Context(), 0, Spec{}, report)
	s.Watch(t.Context(), os.Getpid(), Spec{}, nil)
	s.Watch(t.Context(), os.Getpid(), Spec{Memory: 1}, report) // no policy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Watch(ctx, os.Getpid(), Spec{}, report)
	if n := s.registrations(); n != 0 {
		t.Fatalf("%d registrations", n)
	}
	if s.interval != DefaultInterval {
		t.Errorf("interval %v", s.interval)
	}
}

func TestRunClosesFiles(t *testing.T) {
	pgids := []int{spawn(t, exec.Command("sleep", "60")), spawnHelper(t, "fork:1")}
	before := countFDs(t)
	s := NewSampler(10 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	for _, pgid := range pgids {
		s.Watch(ctx, pgid, Spec{}, func(Violation) {})
	}
	eventually(t, "samples", func() bool {
		a, ok1 := s.Latest(pgids[0])
		b, ok2 := s.Latest(pgids[1])
		return ok1 && ok2 && a.Procs == 1 && b.Procs == 2
	})
	if during := countFDs(t); during < before+3 {
		t.Errorf("%d fds while sampling 3 processes, %d before: stat files are not kept open", during, before)
	}
	cancel()
	<-done
	if after := countFDs(t); after != before {
		t.Errorf("%d fds after Run returned, %d before", after, before)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// listed is Members over a fixed set of pids, as a cgroup's cgroup.procs
// would list them.
type listed struct {
	mu   sync.Mutex
	pids []int
}

func (l *listed) AppendProcs(dst []int) ([]int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append(dst, l.pids...), nil
}

func (l *listed) set(pids ...int) {
	l.mu.Lock()
	l.pids = pids
	l.mu.Unlock()
}

// Members listed for the sampler count whatever their process group: two
// processes in groups of their own, 32 MiB each, make 64 MiB; when the
// list is empty the watch ends.
func TestWatchMembersCountsWhatIsListed(t *testing.T) {
	a, b := spawnHelper(t, "alloc:32"), spawnHelper(t, "alloc:32")
	s := startSampler(t, 50*time.Millisecond)
	m := &listed{}
	m.set(a, b)
	ch := make(chan Violation, 4)
	s.WatchMembers(t.Context(), a, m, Spec{Memory: 48 * mib, MemoryPolicy: PolicyLog, CPU: 1000, CPUPolicy: PolicyLog}, func(v Violation) { ch <- v })
	// Over 48 MiB is more than either could hold alone.
	if v := await(t, ch); v.Measured <= 48*mib {
		t.Fatalf("violation at %s", formatBytes(v.Measured))
	}
	eventually(t, "both members, whole, with a CPU figure", func() bool {
		smp, ok := s.Latest(a)
		return ok && smp.CPUValid && smp.Procs == 2 && smp.RSS >= 64*mib
	})
	// Watched by process group, the same leader's sample has only itself.
	s.Watch(t.Context(), b, Spec{}, func(Violation) {})
	eventually(t, "b's own sample", func() bool { smp, ok := s.Latest(b); return ok && smp.Procs == 1 })
	m.set()
	eventually(t, "the members' watch to end", func() bool { return s.registrations() == 1 })
	if _, ok := s.Latest(a); ok {
		t.Error("Latest still answers for a watch whose members are gone")
	}
}
