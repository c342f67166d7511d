package config

import (
	"fmt"
	"strings"
	"time"
)

// Bounds of the numeric settings, in one place like the defaults. A value
// past one is refused with its key and line: it is a typo or a unit slip
// (cpu = 1e308, log_backups = 100000000, stop_timeout = "100000d"), and
// some would hurt the daemon (a rotation renaming a hundred million files)
// or overflow the arithmetic done with them. The limits are generous: each
// is far past any value that does something useful.
const (
	// MaxDuration bounds every duration not bounded more tightly below.
	MaxDuration = 365 * 24 * time.Hour

	MinSampleInterval = 10 * time.Millisecond
	MaxSampleInterval = time.Hour

	MaxStartTimeout    = time.Hour
	MaxStopTimeout     = 24 * time.Hour
	MaxBackoff         = 24 * time.Hour // backoff_initial and backoff_max
	MaxCircuitWindow   = 30 * 24 * time.Hour
	MaxCircuitCooldown = 30 * 24 * time.Hour
	MaxCircuitRestarts = 10000
	MaxLogMaxSize      = 1 << 40 // 1 TiB
	MaxLogBackups      = 1000
	MaxLogMaxAge       = 365 * 24 * time.Hour

	MinHealthInterval = 10 * time.Millisecond
	MaxHealthInterval = 24 * time.Hour
	MaxHealthTimeout  = time.Hour
	MaxHealthGrace    = 24 * time.Hour
	MaxHealthFailures = 1000

	MaxMemoryLimit = 1 << 50 // 1024 TiB
	// MaxCPUPercent is 100% of each of 8192 CPUs, the most a Linux kernel
	// can be built for (NR_CPUS).
	MaxCPUPercent = 100 * 8192
	MaxSustained  = 24 * time.Hour

	// MinKernelMemory bounds memory_max and memory_high from below.
	MinKernelMemory = 1 << 20 // 1 MiB
	// MaxPids is the kernel's own ceiling on pids (PID_MAX_LIMIT).
	MaxPids = 1 << 22
)

// durationIn reads a duration no shorter than lo and no longer than hi.
func (t *table) durationIn(name string, def, lo, hi time.Duration) time.Duration {
	d := t.duration(name, def)
	if d != def && (d < lo || d > hi) {
		if lo == 0 {
			t.errorf(name, "must be at most %s", humanDuration(hi))
		} else {
			t.errorf(name, "must be between %s and %s", humanDuration(lo), humanDuration(hi))
		}
		return def
	}
	return d
}

// intIn reads a whole number from lo to hi.
func (t *table) intIn(name string, def, lo, hi int) int {
	v, ok := t.get(name)
	if !ok {
		return def
	}
	n, ok := v.(int64)
	if !ok {
		t.wrongType(name, "an integer", v)
		return def
	}
	if n < int64(lo) || n > int64(hi) {
		t.errorf(name, "must be between %d and %d", lo, hi)
		return def
	}
	return int(n)
}

// sizeMax reads a size no larger than hi.
func (t *table) sizeMax(name string, def, hi uint64) uint64 {
	n := t.size(name, def)
	if n > hi {
		t.errorf(name, "must be at most %s", humanSize(hi))
		return def
	}
	return n
}

// humanDuration spells a bound the way a file would: "24h", "30d", "10ms".
func humanDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// humanSize spells a bound in the binary units a file may use: "1TiB".
func humanSize(n uint64) string {
	for _, u := range []struct {
		name  string
		shift uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
