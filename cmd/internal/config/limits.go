package config

import (
	"math"

	"github.com/tendhq/tend/supervisor/limits"
)

// limits decodes a [worker.NAME.limits] table into the limits package's
// Spec, checked by its Validate. cpu = 0 is refused here, though the Spec
// reads it as no limit: written in a file, it is more likely a slip than a
// way to say nothing.
func (d *decoder) limits(t *table) *limits.Spec {
	l := &limits.Spec{}
	l.Memory = t.sizeMax("memory", 0, MaxMemoryLimit)
	if cpu, ok := t.number("cpu"); ok {
		if math.IsNaN(cpu) || math.IsInf(cpu, 0) || cpu <= 0 || cpu > MaxCPUPercent {
			t.errorf("cpu", "must be a percentage of one core greater than 0 and at most %d (e.g. 50 or 150)", MaxCPUPercent)
		} else {
			l.CPU = cpu
		}
	}
	l.Sustained = t.durationIn("sustained", 0, 0, MaxSustained)
	policies := names(limits.Policies())
	l.MemoryPolicy = limits.Policy(t.enum("memory_policy", string(DefaultLimitPolicy), policies...))
	l.CPUPolicy = limits.Policy(t.enum("cpu_policy", string(DefaultLimitPolicy), policies...))
	l.MemoryMax = t.sizeMax("memory_max", 0, MaxMemoryLimit)
	l.MemoryHigh = t.sizeMax("memory_high", 0, MaxMemoryLimit)
	for _, k := range []string{"memory_max", "memory_high"} {
		if t.has(k) && (k == "memory_max" && l.MemoryMax == 0 || k == "memory_high" && l.MemoryHigh == 0) {
			t.errorf(k, "must be at least 1MiB (or leave it out)")
		}
	}
	if cpu, ok := t.number("cpu_max"); ok {
		if math.IsNaN(cpu) || math.IsInf(cpu, 0) || cpu < 1 || cpu > MaxCPUPercent {
			t.errorf("cpu_max", "must be a percentage of one core between 1 and %d (e.g. 50 or 150)", MaxCPUPercent)
		} else {
			l.CPUMax = cpu
		}
	}
	l.PidsMax = t.intIn("pids_max", 0, 0, limits.MaxPids)
	if t.has("pids_max") && l.PidsMax == 0 {
		t.errorf("pids_max", "must be between 1 and %d (or leave it out)", limits.MaxPids)
	}
	t.specErrors(l, l.Validate())
	t.finish()
	return l
}
