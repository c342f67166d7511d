package proc

import (
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
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

func benchStartWait(b *testing.B, spec Spec) {
	s := newSpawner(b, Options{})
	for b.Loop() {
		p, err := s.Start(spec)
		if err != nil {
			b.Fatal(err)
		}
		if e := p.Wait(); !e.Success() {
			b.Fatal(e)
		}
	}
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
	for b.Loop() {
		seen := make(map[string]bool, 2*len(outs))
		for _, o := range outs {
			if err := o.rotate(seen); err != nil {
				b.Fatal(err)
			}
		}
	}
}
