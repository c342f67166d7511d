package config

import "math"

func (d *decoder) limits(t *table) *Limits {
	l := &Limits{}
	l.Memory = t.sizeMax("memory", 0, MaxMemoryLimit)
	if cpu, ok := t.number("cpu"); ok {
		if math.IsNaN(cpu) || math.IsInf(cpu, 0) || cpu <= 0 || cpu > MaxCPUPercent {
			t.errorf("cpu", "must be a percentage of one core greater than 0 and at most %d (e.g. 50 or 150)", MaxCPUPercent)
		} else {
			l.CPU = cpu
		}
	}
	l.Sustained = t.durationIn("sustained", 0, 0, MaxSustained)
	l.MemoryMax = t.sizeMax("memory_max", 0, MaxMemoryLimit)
	l.MemoryHigh = t.sizeMax("memory_high", 0, MaxMemoryLimit)
	for _, k := range []struct {
		key string
		v   uint64
	}{{"memory_max", l.MemoryMax}, {"memory_high", l.MemoryHigh}} {
		if t.has(k.key) && k.v < MinKernelMemory {
			t.errorf(k.key, "must be at least %s (or leave it out): a smaller group is killed at its first allocation", humanSize(MinKernelMemory))
		}
	}
	if l.MemoryMax > 0 && l.MemoryHigh > l.MemoryMax {
		t.errorf("memory_high", "must be at most memory_max: above it, it never throttles")
	}
	if cpu, ok := t.number("cpu_max"); ok {
		if math.IsNaN(cpu) || math.IsInf(cpu, 0) || cpu < 1 || cpu > MaxCPUPercent {
			t.errorf("cpu_max", "must be a percentage of one core between 1 and %d (e.g. 50 or 150)", MaxCPUPercent)
		} else {
			l.CPUMax = cpu
		}
	}
	l.PidsMax = t.intIn("pids_max", 0, 0, MaxPids)
	if t.has("pids_max") && l.PidsMax == 0 {
		t.errorf("pids_max", "must be between 1 and %d (or leave it out)", MaxPids)
	}
	policies := []string{PolicyLog, PolicyRestart, PolicyStop, PolicyKill}
	l.MemoryPolicy = t.enum("memory_policy", DefaultLimitPolicy, policies...)
	l.CPUPolicy = t.enum("cpu_policy", DefaultLimitPolicy, policies...)
	t.finish()
	return l
}
