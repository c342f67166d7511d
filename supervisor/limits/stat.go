package limits

import (
	"bytes"
	"errors"
)

// stat holds the /proc/PID/stat fields a sample needs.
type stat struct {
	zombie bool // dead, not yet reaped: no memory, no further CPU
	pgid   int
	ticks  uint64 // utime + stime, in clock ticks
	rss    uint64 // resident pages
}

var errStatFormat = errors.New("limits: malformed /proc/PID/stat")

// Field positions counted from the state field, the first after the command
// name (man proc: state is field 3, pgrp 5, utime 14, stime 15, rss 24).
const (
	fieldPgrp  = 5 - 3
	fieldUtime = 14 - 3
	fieldStime = 15 - 3
	fieldRSS   = 24 - 3
)

// parseStat reads the fields after the last ')': the command name before it
// may itself contain spaces and parentheses. It allocates nothing.
func parseStat(b []byte) (stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, errStatFormat
	}
	b = b[i+1:]
	var st stat
	var utime uint64
	field := -1
	for field < fieldRSS {
		for len(b) > 0 && b[0] == ' ' {
			b = b[1:]
		}
		if len(b) == 0 {
			return stat{}, errStatFormat
		}
		end := bytes.IndexByte(b, ' ')
		if end < 0 {
			end = len(b)
		}
		tok := b[:end]
		b = b[end:]
		field++
		switch field {
		case 0:
			st.zombie = len(tok) == 1 && tok[0] == 'Z'
		case fieldPgrp:
			v, ok := parseUint(tok)
			if !ok {
				return stat{}, errStatFormat
			}
			st.pgid = int(v)
		case fieldUtime, fieldStime, fieldRSS:
			v, ok := parseUint(tok)
			if !ok {
				return stat{}, errStatFormat
			}
			switch field {
			case fieldUtime:
				utime = v
			case fieldStime:
				st.ticks = utime + v
			default:
				st.rss = v
			}
		}
	}
	return st, nil
}

// parseUint accepts decimal digits only. The kernel prints rss as a signed
// long; a negative value (never seen in practice) is rejected, not wrapped.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}
