package cli

import (
	"bytes"
	"strings"
	"testing"
	"text/tabwriter"

	"pgregory.net/rapid"
)

// A table lays its rows out as text/tabwriter (minimum width 0, padding 2,
// spaces, no flags) does the same cells, tab-separated: status printed
// them so, and scripts cut its columns.
func TestTableIsTabwriters(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cols := rapid.IntRange(1, 7).Draw(rt, "cols")
		rows := rapid.SliceOfN(rapid.SliceOfN(rapid.SampledFrom([]string{
			"", "-", "a", "web", "  web@2", "Running", "1/2 running", "12345", "15:04:05 (3s ago)",
			"é", "日本語", "a\\x09b", "why: \u00e9t\u00e9", strings.Repeat("x", 40),
		}), cols, cols), 0, 12).Draw(rt, "rows")
		var want bytes.Buffer
		tw := tabwriter.NewWriter(&want, 0, 4, 2, ' ', 0)
		tb := newTable(cols)
		for _, r := range rows {
			tw.Write([]byte(strings.Join(r, "\t") + "\n"))
			for _, c := range r {
				tb.cell(c)
			}
		}
		tw.Flush()
		var got bytes.Buffer
		if err := tb.writeTo(&got); err != nil {
			rt.Fatal(err)
		}
		if got.String() != want.String() {
			rt.Fatalf("table:\n%s\ntabwriter:\n%s", got.String(), want.String())
		}
	})
}
