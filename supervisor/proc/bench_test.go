package proc

import (
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
