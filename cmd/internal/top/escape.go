package top

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean makes s safe to put on a terminal: every control character (C0,
// DEL, and C1, which some terminals obey even UTF-8 encoded), every format
// character (bidirectional overrides, zero-width characters), line and
// paragraph separators, private-use and unassigned code points, and every
// byte that is not valid UTF-8 is shown as a Go-style escape (\x1b, \u202e,
// \xff) instead of being passed on. A tab becomes four spaces. So a worker
// that prints "\x1b]0;pwned\x07" is shown as the twelve characters
// `\x1b]0;pwned\x07`, and the terminal's title stays as it was.
func Clean(s string) string {
	if safe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteString("    ")
		case r < 0x80 && !unicode.IsGraphic(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsGraphic(r):
			if r <= 0xffff {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// safe reports whether s is printable ASCII only, the common case, which
// Clean returns as it is.
func safe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}
