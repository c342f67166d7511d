package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// TestDependencyCyclesRefused: a configuration of random dependency
// graphs is refused exactly when its graph has a cycle (judged here by
// peeling off the workers whose requirements are all peeled, Kahn's way),
// and then every error spells out a cycle the graph has, at the
// depends_on key and line of the worker that closes it. Without one it
// loads. A broken variant (mutantCycleMissed, proptest/mutants.sh) misses
// every cycle longer than one worker and must fail here.
func TestDependencyCyclesRefused(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 6).Draw(t, "workers")
		name := func(i int) string { return fmt.Sprintf("w%d", i) }
		deps := make([][]int, n)
		edge := map[[2]string]bool{}
		var src []string
		depLine := map[string]int{}
		for i := range n {
			var kv []string
			for j := range n {
				if j != i && rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("%s needs %s", name(i), name(j))) == 0 {
					deps[i] = append(deps[i], j)
					edge[[2]string{name(i), name(j)}] = true
					cond := rapid.SampledFrom([]string{"started", "ready"}).Draw(t, "condition")
					kv = append(kv, fmt.Sprintf("%s = %q", name(j), cond))
				}
			}
			src = append(src, fmt.Sprintf("[worker.%s]", name(i)), `command = ["/bin/true"]`)
			if len(kv) > 0 {
				src = append(src, "depends_on = { "+strings.Join(kv, ", ")+" }")
				depLine[name(i)] = len(src)
			}
		}
		cyclic := hasCycle(deps)
		_, err := Parse("tend.toml", []byte(lines(src...)))
		if !cyclic {
			if err != nil {
				t.Fatalf("an acyclic graph refused: %v\n%s", err, lines(src...))
			}
			return
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("a cyclic graph loaded (error %v)\n%s", err, lines(src...))
		}
		for _, e := range es {
			cyc, ok := strings.CutPrefix(e.Msg, "dependency cycle: ")
			if !ok {
				t.Fatalf("unexpected error %v\n%s", e, lines(src...))
			}
			path := strings.Split(cyc, " → ")
			if len(path) < 3 || path[0] != path[len(path)-1] {
				t.Fatalf("%v: not a cycle spelled out\n%s", e, lines(src...))
			}
			for k := 0; k+1 < len(path); k++ {
				if !edge[[2]string{path[k], path[k+1]}] {
					t.Fatalf("%v: %s does not depend on %s\n%s", e, path[k], path[k+1], lines(src...))
				}
			}
			closer := path[len(path)-2]
			if want := fmt.Sprintf("worker.%s.depends_on.%s", closer, path[0]); e.Key != want || e.File != "tend.toml" || e.Line != depLine[closer] {
				t.Fatalf("%v: want it at tend.toml:%d %s\n%s", e, depLine[closer], want, lines(src...))
			}
		}
	})
}

// hasCycle peels off, again and again, the workers whose requirements are
// all peeled; a cycle is what never comes off.
func hasCycle(deps [][]int) bool {
	peeled := make([]bool, len(deps))
	for left := len(deps); left > 0; {
		progress := false
		for i, ds := range deps {
			if peeled[i] {
				continue
			}
			ready := true
			for _, j := range ds {
				ready = ready && peeled[j]
			}
			if ready {
				peeled[i], progress = true, true
				left--
			}
		}
		if !progress {
			return true
		}
	}
	return false
}
