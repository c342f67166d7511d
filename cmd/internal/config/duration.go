package config

import (
	"errors"
	"math"
	"strings"
	"time"
)

// ParseDuration accepts Go duration syntax ("1m30s", "250ms") plus a "d"
// unit of 24 hours ("1d", "1d12h"), because retention-like settings read
// better in days.
func ParseDuration(s string) (time.Duration, error) {
	// The value is not repeated: it may be a secret in the wrong place.
	bad := errors.New(`invalid duration (expected one such as "10s", "1m30s" or "1d")`)
	if !strings.Contains(s, "d") {
		// Go's own parser handles the full range, including the most
		// negative duration, which the summing below cannot represent.
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad
		}
		return d, nil
	}
	body := s
	neg := false
	if body != "" && (body[0] == '-' || body[0] == '+') {
		neg = body[0] == '-'
		body = body[1:]
	}
	if body == "" {
		return 0, bad
	}
	if body == "0" {
		return 0, nil
	}
	var total time.Duration
	for body != "" {
		n := strings.IndexFunc(body, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if n <= 0 {
			return 0, bad // a number without a unit, or a unit without a number
		}
		u := n + strings.IndexAny(body[n:]+"0", "0123456789.")
		num, unit := body[:n], body[n:u]
		body = body[u:]
		var d time.Duration
		var err error
		if unit == "d" {
			d, err = time.ParseDuration(num + "h")
			if err == nil && d > math.MaxInt64/24 {
				return 0, bad
			}
			d *= 24
		} else {
			d, err = time.ParseDuration(num + unit)
		}
		if err != nil || total > math.MaxInt64-d {
			return 0, bad
		}
		total += d
	}
	if neg {
		total = -total
	}
	return total, nil
}
