// Package termsafe makes text that a worker could have written safe to
// print on an operator's terminal. It is the one rule every front end of
// tend applies before such text (a worker's output, what it said with
// STATUS=, a hook's or a probe's output, any cause, reason or error that
// may quote them) reaches a terminal.
//
// The rule: every code point that is not graphic in Unicode's sense, and
// every byte that is not valid UTF-8, is written as a Go-style escape
// instead of being passed on. That covers the C0 controls (ESC, NUL, BEL,
// CR ...), DEL, the C1 controls (U+0080-U+009F, which some terminals obey
// even UTF-8 encoded: U+009B is CSI), format characters (the bidirectional
// overrides and isolates U+202A-U+202E and U+2066-U+2069, zero-width
// characters, the BOM), line and paragraph separators, private-use and
// unassigned code points. A byte below 0x80 and a byte that is not UTF-8
// is written \xNN, any other code point \uNNNN or \UNNNNNNNN. So a worker
// that prints "\x1b]0;title\x07" is shown as the sixteen characters
// `\x1b]0;title\x07`, and the terminal's title stays as it was.
//
// Tabs and newlines are the caller's choice: Line (one table cell or one
// line) escapes them too, Text (several lines) and Writer (a stream) let
// them pass. A backslash passes as it is, as with `cat -v`: the output is
// for people, and a worker that writes the text `\x1b` gains nothing from
// looking like one that wrote the byte.
//
// Everything it returns is printable and Line(Line(s)) == Line(s). It
// knows nothing of tend: no imports of ours, no I/O but the writer it is
// handed. JSON output needs none of this: encoding/json escapes control
// characters itself.
package termsafe

import (
	"io"
	"unicode"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// Line is s safe for one line or one table cell: tabs, newlines and
// carriage returns are escaped like every other control character.
func Line(s string) string { return escape(s, false) }

// Text is s safe for several lines: newlines and tabs pass, everything
// else the package doc names is escaped.
func Text(s string) string { return escape(s, true) }

// Lines applies Line to each of ls, for text that is printed one line each.
func Lines(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = Line(l)
	}
	return out
}

func escape(s string, multiline bool) string {
	if printable(s, multiline) {
		return s
	}
	return string(appendEscaped(make([]byte, 0, len(s)+16), []byte(s), multiline))
}

// printable reports whether s is printable ASCII only (and, with
// multiline, newlines and tabs): the common case, returned as it is.
func printable(s string, multiline bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x20 || c >= 0x7f) && !(multiline && (c == '\n' || c == '\t')) {
			return false
		}
	}
	return true
}

// appendEscaped appends p to dst under the rule. p is whole: a sequence
// cut at its end is escaped byte by byte.
func appendEscaped(dst, p []byte, multiline bool) []byte {
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != 0x7f || multiline && (c == '\n' || c == '\t') {
				dst = append(dst, c)
			} else {
				dst = append(dst, '\\', 'x', hex[c>>4], hex[c&15])
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&15])
		case !unicode.IsGraphic(r):
			dst = appendRune(dst, r)
		default:
			dst = append(dst, p[i:i+n]...)
		}
		i += n
	}
	return dst
}

func appendRune(dst []byte, r rune) []byte {
	digits := 4
	dst = append(dst, '\\', 'u')
	if r > 0xffff {
		digits = 8
		dst[len(dst)-1] = 'U'
	}
	for k := digits - 1; k >= 0; k-- {
		dst = append(dst, hex[(r>>(4*k))&15])
	}
	return dst
}

// Writer passes a stream (a worker's output as it is written) on to w
// under Text's rule: newlines and tabs pass. Memory is bounded by the
// size of one Write whatever the length of a line: a UTF-8 sequence that
// one Write ends inside is held (at most three bytes) until the next, or
// until Flush escapes it byte by byte. Not safe for concurrent use.
type Writer struct {
	w       io.Writer
	pending []byte
	buf     []byte
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write escapes p and writes it to the underlying writer. It returns
// len(p) on success, whatever the escaped length.
func (e *Writer) Write(p []byte) (int, error) {
	data := p
	if len(e.pending) > 0 {
		data = append(e.pending, p...)
		e.pending = nil
	}
	// A sequence the next Write may complete is held back.
	if cut := incompleteTail(data); cut < len(data) {
		e.pending = append([]byte(nil), data[cut:]...)
		data = data[:cut]
	}
	e.buf = appendEscaped(e.buf[:0], data, true)
	if len(e.buf) == 0 {
		return len(p), nil
	}
	if _, err := e.w.Write(e.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes, escaped, a sequence the stream ended inside.
func (e *Writer) Flush() error {
	if len(e.pending) == 0 {
		return nil
	}
	out := appendEscaped(nil, e.pending, true)
	e.pending = nil
	_, err := e.w.Write(out)
	return err
}

// incompleteTail is where a UTF-8 sequence that p ends inside starts, or
// len(p) if p ends at a character's end (or in bytes that no continuation
// can make valid).
func incompleteTail(p []byte) int {
	for k := 1; k <= utf8.UTFMax-1 && k <= len(p); k++ {
		c := p[len(p)-k]
		if c < utf8.RuneSelf {
			return len(p)
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(p[len(p)-k:]) {
				return len(p) - k
			}
			return len(p)
		}
	}
	return len(p)
}
