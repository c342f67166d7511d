package limits

import (
	"math"
	"strconv"
	"time"
)

// formatBytes renders n in the largest binary unit it reaches, with at most
// one decimal: "512 MiB", "1.5 GiB", "900 KiB", "12 B".
func formatBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return strconv.FormatFloat(roundTo(n, 1), 'f', -1, 64) + " " + units[i]
}

func formatPercent(p float64) string {
	return strconv.FormatFloat(roundTo(p, 0), 'f', -1, 64) + "%"
}

// formatSpan rounds to what a human reads in a log line: whole seconds from
// one second up, milliseconds below.
func formatSpan(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

func roundTo(x float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(x*p) / p
}
