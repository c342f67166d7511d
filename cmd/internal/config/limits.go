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
	policies := []string{PolicyLog, PolicyRestart, PolicyStop, PolicyKill}
	l.MemoryPolicy = t.enum("memory_policy", DefaultLimitPolicy, policies...)
	l.CPUPolicy = t.enum("cpu_policy", DefaultLimitPolicy, policies...)
	t.finish()
	return l
}
