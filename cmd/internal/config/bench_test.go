package config

import (
	"fmt"
	"strings"
	"testing"
)

// benchConfig is a generated config of n plain workers, the shape the
// cold-start benchmark uses.
func benchConfig(n int) []byte {
	var b strings.Builder
	b.WriteString("[daemon]\nstate_dir = \"/tmp/tend-bench/state\"\n")
	for i := range n {
		fmt.Fprintf(&b, "\n[worker.p%d]\ncommand = [\"sleep\", \"%d\"]\nrestart = \"always\"\nbackoff_initial = \"0s\"\n", 710001+i, 710001+i)
	}
	return []byte(b.String())
}

func BenchmarkParse1000(b *testing.B) {
	data := benchConfig(1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("/etc/tend/tend.toml", data); err != nil {
			b.Fatal(err)
		}
	}
}
