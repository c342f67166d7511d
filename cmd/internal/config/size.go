package config

import (
	"errors"
	"math/big"
	"strings"
)

// sizeUnit maps a unit suffix, in any case, to its multiplier. Decimal and binary
// prefixes are both accepted because people write both and mean different
// things; single letters ("10M") are not, because they are ambiguous.
func sizeUnit(u string) (uint64, bool) {
	switch strings.ToLower(u) {
	case "", "b":
		return 1, true
	case "kb":
		return 1e3, true
	case "mb":
		return 1e6, true
	case "gb":
		return 1e9, true
	case "tb":
		return 1e12, true
	case "kib":
		return 1 << 10, true
	case "mib":
		return 1 << 20, true
	case "gib":
		return 1 << 30, true
	case "tib":
		return 1 << 40, true
	}
	return 0, false
}

// ParseSize parses a byte size such as "512MiB", "1.5GB", "100B" or a bare
// number of bytes ("4096"). Fractions are rounded down to a whole byte.
func ParseSize(s string) (uint64, error) {
	// The value is not repeated: it may be a secret in the wrong place.
	bad := errors.New(`invalid size (expected one such as "512MiB", "10MB" or a number of bytes)`)
	t := strings.TrimSpace(s)
	n := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if n < 0 {
		n = len(t)
	}
	num, unit := t[:n], strings.TrimSpace(t[n:])
	if num == "" || strings.Count(num, ".") > 1 || num[0] == '.' || num[len(num)-1] == '.' {
		return 0, bad
	}
	mult, ok := sizeUnit(unit)
	if !ok {
		return 0, bad
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, bad
	}
	r.Mul(r, new(big.Rat).SetUint64(mult))
	v := new(big.Int).Quo(r.Num(), r.Denom())
	if !v.IsUint64() {
		return 0, errors.New("size is too large")
	}
	return v.Uint64(), nil
}
