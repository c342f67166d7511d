package limits

import "time"

// Resources named in a Violation.
const (
	ResourceMemory = "memory"
	ResourceCPU    = "cpu"
)

// Sample is one measurement of a process group.
type Sample struct {
	At       time.Time
	RSS      uint64  // bytes, summed over the group
	CPU      float64 // percent of one core since the previous sample
	CPUValid bool    // false on a group's first sample: CPU needs two
	Procs    int     // live members of the group
}

// Violation says a limit has been exceeded for at least Spec.Sustained.
type Violation struct {
	Resource string    // "memory" | "cpu"
	Measured float64   // bytes or percent, in the sample that completed the span
	Limit    float64   // bytes or percent
	Since    time.Time // the first sample over the limit in this excursion
	At       time.Time // the sample that made it count
	Policy   Policy
	Detail   string // "RSS 612 MiB > limit 512 MiB for 5s", "CPU 180% > limit 50% for 10s"
}

// Tracker turns Samples into Violations. It is pure: time comes only from
// the samples. The zero value is ready; a Tracker belongs to one watched
// group and is not safe for concurrent use.
type Tracker struct {
	mem, cpu excursion
}

// excursion is the state of one resource: whether the last sample was over
// the limit, since when, and whether this excursion has already fired.
type excursion struct {
	over  bool
	since time.Time
	fired bool
}

// Observe feeds one sample and returns the violations it completes, at most
// one per resource. A violation fires once when a limit has been exceeded for
// Sustained and re-arms only after a sample at or under the limit. A sample
// without a valid CPU figure leaves the CPU state as it was.
func (t *Tracker) Observe(spec Spec, s Sample) []Violation {
	var out []Violation
	if spec.Memory > 0 {
		if v, ok := t.mem.step(spec.Sustained, s.At, float64(s.RSS), float64(spec.Memory)); ok {
			v.Resource, v.Policy = ResourceMemory, spec.MemoryPolicy
			v.Detail = "RSS " + formatBytes(v.Measured) + " > limit " + formatBytes(v.Limit) + " for " + formatSpan(v.At.Sub(v.Since))
			out = append(out, v)
		}
	} else {
		t.mem = excursion{}
	}
	if spec.CPU > 0 {
		if s.CPUValid {
			if v, ok := t.cpu.step(spec.Sustained, s.At, s.CPU, spec.CPU); ok {
				v.Resource, v.Policy = ResourceCPU, spec.CPUPolicy
				v.Detail = "CPU " + formatPercent(v.Measured) + " > limit " + formatPercent(v.Limit) + " for " + formatSpan(v.At.Sub(v.Since))
				out = append(out, v)
			}
		}
	} else {
		t.cpu = excursion{}
	}
	return out
}

func (e *excursion) step(sustained time.Duration, at time.Time, measured, limit float64) (Violation, bool) {
	if measured <= limit {
		*e = excursion{}
		return Violation{}, false
	}
	if !e.over {
		e.over, e.since = true, at
	}
	if e.fired || at.Sub(e.since) < sustained {
		return Violation{}, false
	}
	e.fired = true
	return Violation{Measured: measured, Limit: limit, Since: e.since, At: at}, true
}
