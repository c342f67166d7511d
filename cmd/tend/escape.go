package main

import (
	"fmt"
	"io"
	"unicode/utf8"
)

// escaper passes a worker's output on to the operator's terminal with every
// control character, and every byte that is not UTF-8, written as an escape
// (\x1b, \x00, \xff; \u009b for a C1 control; \u202e for a bidi override):
// a worker's output is the worker's to choose, and raw escape sequences
// can retitle the terminal, clear it, redraw what was printed before, or on
// some terminals answer with input of their own. Newlines and tabs pass.
// It streams: memory is bounded by the size of one Write, whatever the
// length of a line. Backslashes pass as they are, as in `cat -v`.
type escaper struct {
	w       io.Writer
	pending []byte // the start of a UTF-8 sequence a Write ended inside
	buf     []byte
}

func (e *escaper) Write(p []byte) (int, error) {
	data := p
	if len(e.pending) > 0 {
		data = append(e.pending, p...)
		e.pending = nil
	}
	out := e.buf[:0]
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != 0x7f || c == '\n' || c == '\t' {
				out = append(out, c)
			} else {
				out = fmt.Appendf(out, `\x%02x`, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1 && !utf8.FullRune(data[i:]):
			// Maybe a sequence the next Write completes.
			e.pending = append([]byte(nil), data[i:]...)
			i = len(data)
			continue
		case r == utf8.RuneError && size <= 1:
			out = fmt.Appendf(out, `\x%02x`, c)
		case r <= 0x9f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, data[i:i+size]...)
		}
		i += size
	}
	e.buf = out
	if _, err := e.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes, escaped, a sequence the output ended inside.
func (e *escaper) Flush() error {
	var out []byte
	for _, c := range e.pending {
		out = fmt.Appendf(out, `\x%02x`, c)
	}
	e.pending = nil
	_, err := e.w.Write(out)
	return err
}
