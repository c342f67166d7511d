package proc

import (
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/supervisor/cgroup"
)

func BenchmarkStartWait(b *testing.B) {
	benchStartWait(b, Spec{Worker: "bench", Command: []string{"/bin/true"}})
}

// BenchmarkStartWaitForkThread is the same spawn with no_new_privs and a
// umask, forked from a thread set aside for it.
func BenchmarkStartWaitForkThread(b *testing.B) {
	m := uint32(0o027)
	benchStartWait(b, Spec{Worker: "bench", Command: []string{"/bin/true"}, NoNewPrivs: true, Umask: &m})
}

// BenchmarkStartWaitLaunched is the same spawn through the launcher stage,
// which a resource limit needs: the difference to BenchmarkStartWait is
// what a limit adds to a restart. (The launcher here is the test binary;
// the daemon's is the tend binary, whose start costs more.)
func BenchmarkStartWaitLaunched(b *testing.B) {
	benchStartWait(b, Spec{Worker: "bench", Command: []string{"/bin/true"},
		Rlimits: []Rlimit{{Resource: unix.RLIMIT_CORE, Cur: 0, Max: 0}}})
}

// BenchmarkStartWaitOutput is the spawn of a worker with its two output
// files, the restart path of a real configuration: the files exist, as
// they do from the second incarnation on.
func BenchmarkStartWaitOutput(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "logs")
	benchStartWait(b, Spec{Worker: "bench", Command: []string{"/bin/true"},
		Stdout: filepath.Join(dir, "bench.out"), Stderr: filepath.Join(dir, "bench.err"), LogMaxSize: 1 << 20, LogBackups: 1})
}

// benchStartWait reports, besides the wall time, the test process's own
// CPU time per spawn (cpu-ns/op, the children's not counted): on a shared
// machine the wall time is mostly waiting for the child.
func benchStartWait(b *testing.B, spec Spec) {
	benchStartWaitAfter(b, spec, func(*Spawner) {})
}

// benchStartWaitAfter is benchStartWait with setup run on the spawner
// before the clock starts.
func benchStartWaitAfter(b *testing.B, spec Spec, setup func(*Spawner)) {
	s := newSpawner(b, Options{})
	setup(s)
	before := selfCPU(b)
	n := 0
	for b.Loop() {
		p, err := s.Start(spec)
		if err != nil {
			b.Fatal(err)
		}
		if e := p.Wait(); !e.Success() {
			b.Fatal(e)
		}
		n++
	}
	b.ReportMetric(float64(selfCPU(b)-before)/float64(n), "cpu-ns/op")
}

func selfCPU(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkOpenOutputs is the part of a spawn that opens the two output
// files (and closes them, as detach does), without the fork and exec whose
// noise hides it in BenchmarkStartWaitOutput.
func BenchmarkOpenOutputs(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "logs")
	spec := Spec{Worker: "bench", Stdout: filepath.Join(dir, "bench.out"), Stderr: filepath.Join(dir, "bench.err")}
	for b.Loop() {
		o, err := openOutputs(spec, nil)
		if err != nil {
			b.Fatal(err)
		}
		o.detach()
		o.close()
	}
}

// BenchmarkRotateCheck is one rotation sweep over 1,000 workers' two
// output files, all under their limit: the cost of each RotateEvery.
func BenchmarkRotateCheck(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "logs")
	outs := make([]*outputs, 1000)
	for i := range outs {
		spec := Spec{Worker: "bench", Stdout: filepath.Join(dir, strconv.Itoa(i)+".out"),
			Stderr: filepath.Join(dir, strconv.Itoa(i)+".err"), LogMaxSize: 10 << 20, LogBackups: 3}
		o, err := openOutputs(spec, nil)
		if err != nil {
			b.Fatal(err)
		}
		o.detach()
		b.Cleanup(func() { o.close() })
		outs[i] = o
	}
	// As rotateAll runs it: one set of paths, cleared between sweeps.
	seen := make(map[string]bool, 2*len(outs))
	for b.Loop() {
		clear(seen)
		for _, o := range outs {
			if err := o.rotate(seen); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkRestartPath is what an exit and the next spawn cost the
// restart path, with each way of telling an incarnation's processes: the
// spawn (with a cgroup: made and entered at birth), the reap, the count of
// what remains, and the release of the cgroup (which the daemon does after
// the end is durable, beside the next spawn). Compare the two halves for
// what cgroups add.
func BenchmarkRestartPath(b *testing.B) {
	for _, mode := range []string{"pgroup", "cgroup"} {
		b.Run(mode, func(b *testing.B) {
			opts := Options{}
			if mode == "cgroup" {
				tr, err := cgroup.Open(randomInstance(), cgroup.Options{})
				if errors.Is(err, cgroup.ErrUnavailable) {
					b.Skipf("no writable cgroup v2: %v", err)
				}
				if err != nil {
					b.Fatal(err)
				}
				opts.Cgroups = tr
			}
			s := newSpawner(b, opts)
			inc := uint64(0)
			for b.Loop() {
				inc++
				p, err := s.Start(Spec{Worker: "bench", Incarnation: inc, Command: []string{"/bin/true"}})
				if err != nil {
					b.Fatal(err)
				}
				if e := p.Wait(); !e.Success() {
					b.Fatal(e)
				}
				if n := p.Remaining(); n != 0 {
					b.Fatalf("%d remain", n)
				}
				p.Release()
			}
		})
	}
}
