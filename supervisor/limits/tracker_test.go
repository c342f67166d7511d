package limits

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const mib = 1 << 20

// step is one sample fed to a Tracker and the resources it must fire.
type step struct {
	sec  float64 // seconds after t0
	rss  uint64  // MiB
	cpu  float64
	cpuV bool
	want string // comma-separated resources expected to fire, "" for none
}

func TestTracker(t *testing.T) {
	memSpec := Spec{Memory: 512 * mib, Sustained: 5 * time.Second, MemoryPolicy: PolicyRestart}
	cpuSpec := Spec{CPU: 50, Sustained: 10 * time.Second, CPUPolicy: PolicyKill}
	both := Spec{Memory: 512 * mib, CPU: 50, Sustained: 2 * time.Second, MemoryPolicy: PolicyLog, CPUPolicy: PolicyStop}
	immediate := Spec{Memory: 512 * mib, MemoryPolicy: PolicyKill}
	cases := []struct {
		name  string
		spec  Spec
		steps []step
	}{
		{"under never fires", memSpec, []step{{0, 100, 0, false, ""}, {10, 512, 0, false, ""}}},
		{"fires once sustained", memSpec, []step{
			{0, 600, 0, false, ""}, {4, 600, 0, false, ""}, {5, 612, 0, false, "memory"},
			{6, 700, 0, false, ""}, {60, 700, 0, false, ""}}},
		{"dip resets the span", memSpec, []step{
			{0, 600, 0, false, ""}, {4, 500, 0, false, ""}, {5, 600, 0, false, ""},
			{9, 600, 0, false, ""}, {10, 600, 0, false, "memory"}}},
		{"re-arms after a sample at the limit", memSpec, []step{
			{0, 600, 0, false, ""}, {5, 600, 0, false, "memory"}, {6, 512, 0, false, ""},
			{7, 600, 0, false, ""}, {12, 600, 0, false, "memory"}}},
		{"zero sustained fires on the first sample over", immediate, []step{
			{0, 513, 0, false, "memory"}, {1, 513, 0, false, ""}}},
		{"cpu needs valid samples", cpuSpec, []step{
			{0, 0, 0, false, ""}, {1, 0, 180, true, ""}, {5, 0, 999, false, ""},
			{11, 0, 180, true, "cpu"}}},
		{"invalid cpu sample does not re-arm", cpuSpec, []step{
			{0, 0, 180, true, ""}, {10, 0, 180, true, "cpu"}, {11, 0, 0, false, ""},
			{25, 0, 180, true, ""}}},
		{"both resources independently", both, []step{
			{0, 600, 80, true, ""}, {2, 600, 80, true, "memory,cpu"}, {3, 100, 80, true, ""},
			{4, 600, 10, true, ""}, {6, 600, 90, true, "memory"}, {8, 600, 90, true, "cpu"}}},
		{"no limit set", Spec{}, []step{{0, 1 << 20, 1e6, true, ""}, {100, 1 << 20, 1e6, true, ""}}},
	}
	t0 := time.Unix(1_700_000_000, 0)
	for _, c := range cases {
		var tr Tracker
		for i, st := range c.steps {
			at := t0.Add(time.Duration(st.sec * float64(time.Second)))
			vs := tr.Observe(c.spec, Sample{At: at, RSS: st.rss * mib, CPU: st.cpu, CPUValid: st.cpuV, Procs: 1})
			var got []string
			for _, v := range vs {
				got = append(got, v.Resource)
				checkViolation(t, fmt.Sprintf("%s step %d", c.name, i), c.spec, v, at)
			}
			if g := strings.Join(got, ","); g != st.want {
				t.Errorf("%s step %d: fired %q, want %q", c.name, i, g, st.want)
			}
		}
	}
}

func checkViolation(t *testing.T, name string, spec Spec, v Violation, at time.Time) {
	t.Helper()
	if !v.At.Equal(at) || v.At.Sub(v.Since) < spec.Sustained {
		t.Errorf("%s: %s span %v..%v shorter than %v", name, v.Resource, v.Since, v.At, spec.Sustained)
	}
	switch v.Resource {
	case ResourceMemory:
		if v.Policy != spec.MemoryPolicy || v.Limit != float64(spec.Memory) || v.Measured <= v.Limit {
			t.Errorf("%s: %+v", name, v)
		}
	case ResourceCPU:
		if v.Policy != spec.CPUPolicy || v.Limit != spec.CPU || v.Measured <= v.Limit {
			t.Errorf("%s: %+v", name, v)
		}
	}
}

func TestViolationDetail(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var tr Tracker
	spec := Spec{Memory: 512 * mib, CPU: 50, Sustained: 5 * time.Second, MemoryPolicy: PolicyKill, CPUPolicy: PolicyLog}
	tr.Observe(spec, Sample{At: t0, RSS: 612 * mib, CPU: 180, CPUValid: true})
	vs := tr.Observe(spec, Sample{At: t0.Add(5 * time.Second), RSS: 612 * mib, CPU: 180, CPUValid: true})
	if len(vs) != 2 {
		t.Fatalf("got %+v", vs)
	}
	if want := "RSS 612 MiB > limit 512 MiB for 5s"; vs[0].Detail != want {
		t.Errorf("memory detail %q, want %q", vs[0].Detail, want)
	}
	if want := "CPU 180% > limit 50% for 5s"; vs[1].Detail != want {
		t.Errorf("cpu detail %q, want %q", vs[1].Detail, want)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		n    float64
		want string
	}{{12, "12 B"}, {900 << 10, "900 KiB"}, {1536 * mib, "1.5 GiB"}, {512 * mib, "512 MiB"}, {612.34 * mib, "612.3 MiB"}} {
		if got := formatBytes(c.n); got != c.want {
			t.Errorf("formatBytes(%v) = %q, want %q", c.n, got, c.want)
		}
	}
	if got := formatSpan(1500 * time.Millisecond); got != "2s" {
		t.Errorf("formatSpan = %q", got)
	}
	if got := formatSpan(250 * time.Millisecond); got != "250ms" {
		t.Errorf("formatSpan = %q", got)
	}
	if got := formatPercent(179.6); got != "180%" {
		t.Errorf("formatPercent = %q", got)
	}
}
