package config

import (
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RlimitInfinity is a limit of "infinity": no limit (RLIM_INFINITY).
const RlimitInfinity = math.MaxUint64

// rlimitKind says how a limit's values are spelled.
type rlimitKind int

const (
	rlimitCount   rlimitKind = iota // a plain number
	rlimitBytes                     // a size: "512MiB" or a number of bytes
	rlimitSeconds                   // a duration in whole seconds: "1h" or a number of seconds
)

// rlimitKeys are the keys of [worker.NAME.rlimits], named as systemd's
// Limit*= settings and prlimit(1) name them. nice, rtprio and rttime are
// left out: their values do not mean what they say (nice counts down from
// 20) and nobody asked.
var rlimitKeys = map[string]struct {
	resource int
	kind     rlimitKind
}{
	"as":         {unix.RLIMIT_AS, rlimitBytes},
	"core":       {unix.RLIMIT_CORE, rlimitBytes},
	"cpu":        {unix.RLIMIT_CPU, rlimitSeconds},
	"data":       {unix.RLIMIT_DATA, rlimitBytes},
	"fsize":      {unix.RLIMIT_FSIZE, rlimitBytes},
	"locks":      {unix.RLIMIT_LOCKS, rlimitCount},
	"memlock":    {unix.RLIMIT_MEMLOCK, rlimitBytes},
	"msgqueue":   {unix.RLIMIT_MSGQUEUE, rlimitBytes},
	"nofile":     {unix.RLIMIT_NOFILE, rlimitCount},
	"nproc":      {unix.RLIMIT_NPROC, rlimitCount},
	"sigpending": {unix.RLIMIT_SIGPENDING, rlimitCount},
	"stack":      {unix.RLIMIT_STACK, rlimitBytes},
}

// umask reads the umask key: a string of octal digits. An integer is
// refused, because TOML reads 022 as a syntax error and 22 as decimal.
func (t *table) umask(name string) int {
	v, ok := t.get(name)
	if !ok {
		return -1
	}
	s, ok := v.(string)
	if !ok {
		t.wrongType(name, `a string of octal digits such as "027"`, v)
		return -1
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || len(s) > 4 || m > 0o777 {
		t.errorf(name, `invalid umask (use 3 octal digits such as "022" or "027")`)
		return -1
	}
	return int(m)
}

// rlimits reads a [worker.NAME.rlimits] table into limits sorted by name.
// A value is "SOFT:HARD", or one value for both; either may be "infinity".
// An integer means that number for both.
func (d *decoder) rlimits(t *table) []Rlimit {
	names := make([]string, 0, len(rlimitKeys))
	for k := range rlimitKeys {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []Rlimit
	for _, name := range names {
		// Every name is asked for, present or not, so that a typo is
		// matched against all of them.
		if _, ok := t.get(name); !ok {
			continue
		}
		if r, ok := t.rlimit(name); ok {
			out = append(out, r)
		}
	}
	t.finish()
	return out
}

func (t *table) rlimit(name string) (Rlimit, bool) {
	key := rlimitKeys[name]
	r := Rlimit{Name: name, Resource: key.resource}
	v, _ := t.get(name)
	var soft, hard string
	switch v := v.(type) {
	case int64:
		if v < 0 {
			t.errorf(name, "must not be negative, got %d", v)
			return r, false
		}
		r.Soft, r.Hard = uint64(v), uint64(v)
		return r, t.checkRlimit(name, r)
	case string:
		var both bool
		soft, hard, both = strings.Cut(v, ":")
		if !both {
			hard = soft
		}
	default:
		t.wrongType(name, `a limit such as "1024", "1024:4096" or "infinity"`, v)
		return r, false
	}
	var err error
	if r.Soft, err = parseRlimitValue(soft, key.kind); err == nil {
		r.Hard, err = parseRlimitValue(hard, key.kind)
	}
	if err != nil {
		t.errorf(name, "%v", err)
		return r, false
	}
	return r, t.checkRlimit(name, r)
}

func (t *table) checkRlimit(name string, r Rlimit) bool {
	if r.Soft > r.Hard {
		t.errorf(name, "the soft limit %s is above the hard limit %s", rlimitString(r.Soft), rlimitString(r.Hard))
		return false
	}
	if r.Resource == unix.RLIMIT_NOFILE && r.Hard == RlimitInfinity {
		t.errorf(name, `cannot be "infinity": the kernel caps open files at fs.nr_open (give a number, e.g. "65536")`)
		return false
	}
	return true
}

func rlimitString(v uint64) string {
	if v == RlimitInfinity {
		return "infinity"
	}
	return strconv.FormatUint(v, 10)
}

func parseRlimitValue(s string, kind rlimitKind) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "infinity" {
		return RlimitInfinity, nil
	}
	switch kind {
	case rlimitBytes:
		n, err := ParseSize(s)
		if err != nil {
			return 0, errors.New(`invalid limit (use a size such as "512MiB", a number of bytes, or "infinity")`)
		}
		return n, nil
	case rlimitSeconds:
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			return n, nil
		}
		d, err := ParseDuration(s)
		if err != nil || d < 0 || d%1e9 != 0 {
			return 0, errors.New(`invalid limit (use whole seconds such as "3600" or "1h", or "infinity")`)
		}
		return uint64(d / 1e9), nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == RlimitInfinity {
		return 0, errors.New(`invalid limit (use a number, or "infinity")`)
	}
	return n, nil
}
