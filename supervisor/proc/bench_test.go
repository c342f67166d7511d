package proc

import "testing"

func BenchmarkStartWait(b *testing.B) {
	benchStartWait(b, Spec{Worker: "bench", Command: []string{"/bin/true"}})
}

// BenchmarkStartWaitLaunched is the same spawn through the launcher stage
// (no_new_privs is the least it can be asked for): the difference to
// BenchmarkStartWait is what confinement adds to a restart.
func BenchmarkStartWaitLaunched(b *testing.B) {
	benchStartWait(b, Spec{Worker: "bench", Command: []string{"/bin/true"}, NoNewPrivs: true})
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
