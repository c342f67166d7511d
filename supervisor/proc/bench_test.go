package proc

import "testing"

func BenchmarkStartWait(b *testing.B) {
	s := newSpawner(b, Options{})
	spec := Spec{Worker: "bench", Command: []string{"/bin/true"}}
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
