package proc

import (
	"path/filepath"
	"testing"
)

func BenchmarkStartWait(b *testing.B) {
	benchStartWait(b, Spec{Worker: "bench", Command: []string{"/bin/true"}})
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
