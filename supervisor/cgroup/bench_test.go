package cgroup

import (
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkSpawn compares, in one loop so that the machine's load weighs
// on every variant alike, what a restart pays to put its worker in a
// cgroup. Each iteration runs every variant once with /bin/true; only the
// spawn path is timed (the child's own run and the wait are not):
//
//	plain      exec.Cmd.Start with Setpgid (tend today)
//	new        Tree.New + Start with UseCgroupFD + CloseFD
//	prepared   the same when Prepare made the directory beforehand
//	remove     Group.Remove after the child was reaped (off the restart path)
//	mkdir, open, rmdir   the bare syscalls on a group directory
//
// Another worker sleeps in the subtree throughout, as in a daemon with more
// than one worker. gap is an untimed pause before every spawn: 0 is spawns
// back to back, 10ms is closer to a restart after a backoff (an idle CPU
// wakes slower, and the kernel's populated notification on cgroup.events is
// rate-limited to one per 20 ms per cgroup). Medians are reported as
// <variant>-p50-us.
func BenchmarkSpawn(b *testing.B) {
	for _, gap := range []time.Duration{0, 10 * time.Millisecond} {
		b.Run("gap="+gap.String(), func(b *testing.B) { benchSpawn(b, gap) })
	}
}

func benchSpawn(b *testing.B, gap time.Duration) {
	tr := openTree(b, Options{})
	other, err := tr.New("other", 1)
	if err != nil {
		b.Fatal(err)
	}
	spawn(b, other, nil, "/bin/sleep", "600")
	var plain, fresh, prepared, remove, mkdir, open, rmdir []time.Duration
	start := func(g *Group) time.Duration {
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		time.Sleep(gap)
		t0 := time.Now()
		if g != nil {
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, g.FD()
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if g != nil {
			g.CloseFD()
		}
		d := time.Since(t0)
		cmd.Wait()
		return d
	}
	inc := uint64(0)
	for b.Loop() {
		plain = append(plain, start(nil))

		inc++
		t0 := time.Now()
		g, err := tr.New("bench", inc)
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		fresh = append(fresh, d+start(g))
		t0 = time.Now()
		if err := g.Remove(); err != nil {
			b.Fatal(err)
		}
		remove = append(remove, time.Since(t0))

		inc++
		if err := tr.Prepare("bench", inc); err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		g, err = tr.New("bench", inc)
		if err != nil {
			b.Fatal(err)
		}
		d = time.Since(t0)
		prepared = append(prepared, d+start(g))
		if err := g.Remove(); err != nil {
			b.Fatal(err)
		}

		dir := tr.dir + "/raw"
		t0 = time.Now()
		if err := unix.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		unix.Close(fd)
		t3 := time.Now()
		if err := unix.Rmdir(dir); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		mkdir, open, rmdir = append(mkdir, t1.Sub(t0)), append(open, t2.Sub(t1)), append(rmdir, t4.Sub(t3))
	}
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"plain", plain}, {"new", fresh}, {"prepared", prepared}, {"remove", remove}, {"mkdir", mkdir}, {"open", open}, {"rmdir", rmdir}} {
		b.ReportMetric(median(m.d), m.name+"-p50-us")
	}
}

// BenchmarkSignal measures Signal over a group of one sleeping member with
// signal 0 (the pidfd, the membership check and the send, nothing killed).
func BenchmarkSignal(b *testing.B) {
	tr := openTree(b, Options{})
	g, err := tr.New("sig", 1)
	if err != nil {
		b.Fatal(err)
	}
	spawn(b, g, nil, "/bin/sleep", "60")
	for b.Loop() {
		if n, err := g.Signal(0); n != 1 || err != nil {
			b.Fatalf("Signal = %d, %v", n, err)
		}
	}
}

// BenchmarkProcs measures one read of cgroup.procs with a reused slice.
func BenchmarkProcs(b *testing.B) {
	tr := openTree(b, Options{})
	g, err := tr.New("procs", 1)
	if err != nil {
		b.Fatal(err)
	}
	spawn(b, g, nil, "/bin/sleep", "60")
	var buf []int
	for b.Loop() {
		buf, err = g.AppendProcs(buf[:0])
		if err != nil || len(buf) != 1 {
			b.Fatalf("AppendProcs = %v, %v", buf, err)
		}
	}
}

func median(d []time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[len(s)/2]) / float64(time.Microsecond)
}
