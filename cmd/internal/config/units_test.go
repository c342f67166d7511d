package config

import (
	"math"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"0":                         0,
		"0s":                        0,
		"5s":                        5 * time.Second,
		"1m30s":                     90 * time.Second,
		"250ms":                     250 * time.Millisecond,
		"2h":                        2 * time.Hour,
		"1d":                        24 * time.Hour,
		"1d12h":                     36 * time.Hour,
		"1.5d":                      36 * time.Hour,
		"2d30m":                     48*time.Hour + 30*time.Minute,
		"-1s":                       -time.Second,
		"10us":                      10 * time.Microsecond,
		"1h1d":                      25 * time.Hour,
		"100000d":                   100000 * 24 * time.Hour,
		"+3s":                       3 * time.Second,
		"1.25h":                     75 * time.Minute,
		"0.5d1s":                    12*time.Hour + time.Second,
		"106751d":                   106751 * 24 * time.Hour,
		"1d0s":                      24 * time.Hour,
		"3d2h1m0s":                  3*24*time.Hour + 2*time.Hour + time.Minute,
		"-2562047h47m16.854775808s": math.MinInt64,
	}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "5", "5x", "d", "1dd", "s", "-", "1.2.3s", "1 s", "106752d", "200000d", "9223372036s1d", "1d-1s", "1w"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
	_, err := ParseDuration("5x")
	if want := `invalid duration (expected one such as "10s", "1m30s" or "1d")`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]uint64{
		"0":                    0,
		"512":                  512,
		"100B":                 100,
		"1KB":                  1000,
		"1kb":                  1000,
		"10MB":                 10_000_000,
		"2GB":                  2_000_000_000,
		"1TB":                  1_000_000_000_000,
		"1KiB":                 1024,
		"512MiB":               512 << 20,
		"10MiB":                10 << 20,
		"3GiB":                 3 << 30,
		"1TiB":                 1 << 40,
		"1.5GiB":               3 << 29,
		"1.5B":                 1,
		" 64 MiB":              64 << 20,
		"18446744073709551615": 1<<64 - 1,
	}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "10M", "10X", "12XB", "-1", "1.2.3MB", ".5MB", "5.MB", "1/2MB", "1e3", "18446744073709551616", "20000000TiB", "0x10"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %v, want an error", in, got)
		}
	}
}
