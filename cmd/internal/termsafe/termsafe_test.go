package termsafe

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// assertSafe fails if s holds anything a terminal could act on.
func assertSafe(t *testing.T, s string, multiline bool) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("not UTF-8: %q", s)
	}
	for i, r := range s {
		if multiline && (r == '\n' || r == '\t') {
			continue
		}
		if !unicode.IsGraphic(r) {
			t.Fatalf("%U reaches the terminal at %d: %q", r, i, s)
		}
	}
}

var cases = map[string]string{
	"web-1":                  "web-1",
	"\x1b]0;title\x07":       `\x1b]0;title\x07`,
	"\x1b[2J\x1b[31mred":     `\x1b[2J\x1b[31mred`,
	"\x1b]52;c;cHduZWQ=\x07": `\x1b]52;c;cHduZWQ=\x07`, // OSC 52: write the clipboard
	"a\u009b31mb":            `a\u009b31mb`,            // C1 CSI, UTF-8 encoded
	"\x9b31m":                `\x9b31m`,                // C1 CSI as a raw byte (invalid UTF-8)
	"evil\u202eexe.txt":      `evil\u202eexe.txt`,
	"iso\u2066late\u2069":    `iso\u2066late\u2069`,
	"zero\u200bwidth":        `zero\u200bwidth`,
	"nul\x00del\x7f":         `nul\x00del\x7f`,
	"日本語 ünïcödé 🙂":          "日本語 ünïcödé 🙂",
	"\xff\xfe":               `\xff\xfe`,
	"cut \xe2\x98":           `cut \xe2\x98`,
	"para\u2029sep":          `para\u2029sep`,
	"private\U000F0000 use":  `private\U000f0000 use`,
	"tag\U000E0041":          `tag\U000e0041`,
	"\x1bP+q\x1b\\ (DCS)":    `\x1bP+q\x1b\ (DCS)`,
	`back\slash`:             `back\slash`,
}

func TestLine(t *testing.T) {
	all := map[string]string{"line\nbreak\r\ttab": `line\x0abreak\x0d\x09tab`}
	for in, want := range cases {
		all[in] = want
	}
	for in, want := range all {
		got := Line(in)
		if got != want {
			t.Errorf("Line(%q) = %q, want %q", in, got, want)
		}
		assertSafe(t, got, false)
		if Line(got) != got {
			t.Errorf("Line is not idempotent on %q", got)
		}
	}
}

func TestText(t *testing.T) {
	all := map[string]string{"line\nbreak\r\ttab\n": "line\nbreak\\x0d\ttab\n"}
	for in, want := range cases {
		all[in] = want
	}
	for in, want := range all {
		got := Text(in)
		if got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
		assertSafe(t, got, true)
	}
}

// Every way of cutting a stream into two writes gives Text's answer.
func TestWriterAnyCut(t *testing.T) {
	in := "ok é ☃ 🙂\t\x1b[2J\x00\r\x7f\xff\xc2\x9b\u202e end\n\xe2\x98"
	want := Text(in)
	for cut := 0; cut <= len(in); cut++ {
		for cut2 := cut; cut2 <= len(in); cut2++ {
			var b bytes.Buffer
			w := NewWriter(&b)
			for _, p := range []string{in[:cut], in[cut:cut2], in[cut2:]} {
				if n, err := w.Write([]byte(p)); err != nil || n != len(p) {
					t.Fatalf("Write: %d, %v", n, err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if b.String() != want {
				t.Fatalf("cuts at %d, %d: %q, want %q", cut, cut2, b.String(), want)
			}
		}
	}
}

// Whatever the bytes, the output is safe, and the stream and the string
// agree (go test -fuzz FuzzText for more than the seeds).
func FuzzText(f *testing.F) {
	for in := range cases {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		assertSafe(t, Line(in), false)
		assertSafe(t, Text(in), true)
		var b bytes.Buffer
		w := NewWriter(&b)
		for _, p := range strings.SplitAfter(in, "\xe2") {
			_, _ = w.Write([]byte(p))
		}
		_ = w.Flush()
		if b.String() != Text(in) {
			t.Fatalf("Writer %q != Text %q", b.String(), Text(in))
		}
	})
}

// The cost of escaping a worker's output as `tend logs` streams it: plain
// text, and text that is mostly escape sequences.
func BenchmarkWriter(b *testing.B) {
	for name, line := range map[string]string{"plain": "2026-12-06 07:45:39 GET /healthz 200 0.4ms ünïcödé\n", "hostile": "\x1b[2J\x1b]0;t\x07\u202e\xff\n"} {
		b.Run(name, func(b *testing.B) {
			chunk := []byte(strings.Repeat(line, 64<<10/len(line)))
			w := NewWriter(io.Discard)
			b.SetBytes(int64(len(chunk)))
			for b.Loop() {
				_, _ = w.Write(chunk)
			}
		})
	}
}
