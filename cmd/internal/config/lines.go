package config

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// lineIndex maps a key path (toml.Key.String form) to the line where it is
// defined. The TOML library keeps positions private, so they are recovered
// here by a structural scan of the source.
type lineIndex map[string]lineEntry

type lineEntry struct {
	line     int
	explicit bool // a [table] header or a key = value, not an implied parent
}

// find returns the line of key, or of its nearest ancestor that has one,
// or 0.
func (ix lineIndex) find(key toml.Key) int {
	for n := len(key); n > 0; n-- {
		if e, ok := ix[key[:n].String()]; ok {
			return e.line
		}
	}
	return 0
}

// indexLines scans TOML that the library has already accepted. It never
// panics on other input; it just stops early and returns what it has.
func indexLines(src string) lineIndex {
	// About one key a line: sized up front, the map is not rehashed over
	// and over while a large file is scanned.
	s := &lineScanner{src: src, line: 1, out: make(lineIndex, strings.Count(src, "\n")+1)}
	s.document()
	return s.out
}

type lineScanner struct {
	src  string
	i    int
	line int
	out  lineIndex
}

func (s *lineScanner) eof() bool { return s.i >= len(s.src) }

func (s *lineScanner) peek(off int) byte {
	if s.i+off < len(s.src) {
		return s.src[s.i+off]
	}
	return 0
}

func (s *lineScanner) advance() {
	if s.src[s.i] == '\n' {
		s.line++
	}
	s.i++
}

// record keeps the first explicit definition of the key parent.k, and gives
// every ancestor below parent at least an implied line so lookups of parents
// still land near. It returns parent.k. Keys are in toml.Key.String form,
// parent "" for the root. parent (a table header, or the key of an inline
// table) is recorded already, with its ancestors, so each key string is
// built once rather than once for every key below it.
func (s *lineScanner) record(parent string, k toml.Key, line int) string {
	full := parent
	for n, part := range k {
		q := keyPart(part)
		if full == "" {
			full = q
		} else {
			full = full + "." + q
		}
		explicit := n == len(k)-1
		e, ok := s.out[full]
		if !ok || (explicit && !e.explicit) {
			s.out[full] = lineEntry{line: line, explicit: explicit}
		}
	}
	return full
}

// keyPart is one part of a key as toml.Key.String writes it.
func keyPart(part string) string {
	if part == "" {
		return toml.Key{part}.String()
	}
	for i := 0; i < len(part); i++ {
		if !isBare(part[i]) {
			return toml.Key{part}.String()
		}
	}
	return part
}

// skip consumes blanks, comments and, when newlines is set, line breaks.
func (s *lineScanner) skip(newlines bool) {
	for !s.eof() {
		switch c := s.src[s.i]; {
		case c == ' ' || c == '\t' || c == '\r':
			s.i++
		case c == '\n' && newlines:
			s.advance()
		case c == '#':
			for !s.eof() && s.src[s.i] != '\n' {
				s.i++
			}
		default:
			return
		}
	}
}

func (s *lineScanner) document() {
	table := "" // the current table header, in toml.Key.String form
	// Each element of an array of tables ([[notify]]) is indexed under its
	// number from 1 ("notify.2.on"), as the decoder names it.
	elems := map[string]int{}
	for {
		s.skip(true)
		if s.eof() {
			return
		}
		start, line := s.i, s.line
		if s.src[s.i] == '[' {
			s.i++
			array := s.peek(0) == '['
			if array {
				s.i++
			}
			k := s.key()
			s.skip(false)
			for !s.eof() && s.src[s.i] == ']' {
				s.i++
			}
			if array {
				elems[k.String()]++
				k = append(k, strconv.Itoa(elems[k.String()]))
			}
			table = s.record("", k, line)
		} else {
			k := s.key()
			s.skip(false)
			if s.eof() || s.src[s.i] != '=' {
				return
			}
			s.i++
			s.value(s.record(table, k, line))
		}
		if s.i == start {
			return // no progress: not TOML this scanner understands
		}
	}
}

// key reads a dotted key of bare and quoted parts.
func (s *lineScanner) key() toml.Key {
	var k toml.Key
	for {
		s.skip(false)
		if s.eof() {
			return k
		}
		switch c := s.src[s.i]; {
		case c == '"':
			raw := s.basicString()
			if u, err := strconv.Unquote(raw); err == nil {
				k = append(k, u)
			} else {
				k = append(k, strings.Trim(raw, `"`))
			}
		case c == '\'':
			k = append(k, strings.Trim(s.literalString(), "'"))
		default:
			start := s.i
			for !s.eof() && isBare(s.src[s.i]) {
				s.i++
			}
			if s.i == start {
				return k
			}
			k = append(k, string(s.src[start:s.i]))
		}
		s.skip(false)
		if s.eof() || s.src[s.i] != '.' {
			return k
		}
		s.i++
	}
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// basicString consumes a "..." string and returns it with its quotes.
func (s *lineScanner) basicString() string {
	start := s.i
	s.i++
	for !s.eof() {
		switch s.src[s.i] {
		case '\\':
			s.i++
			if !s.eof() {
				s.advance()
			}
		case '"':
			s.i++
			return string(s.src[start:s.i])
		case '\n':
			return string(s.src[start:s.i])
		default:
			s.i++
		}
	}
	return string(s.src[start:s.i])
}

func (s *lineScanner) literalString() string {
	start := s.i
	s.i++
	for !s.eof() && s.src[s.i] != '\'' && s.src[s.i] != '\n' {
		s.i++
	}
	if !s.eof() && s.src[s.i] == '\'' {
		s.i++
	}
	return string(s.src[start:s.i])
}

// multiline consumes a triple-quoted string, including up to two quote
// characters directly before the closing delimiter, as TOML allows.
func (s *lineScanner) multiline(q byte, escapes bool) {
	s.i += 3
	for !s.eof() {
		c := s.src[s.i]
		if escapes && c == '\\' {
			s.i++
			if !s.eof() {
				s.advance()
			}
			continue
		}
		if c == q && s.peek(1) == q && s.peek(2) == q {
			s.i += 3
			for n := 0; n < 2 && !s.eof() && s.src[s.i] == q; n++ {
				s.i++
			}
			return
		}
		s.advance()
	}
}

// value consumes one value; keys inside inline tables are recorded under
// prefix, in toml.Key.String form.
func (s *lineScanner) value(prefix string) {
	s.skip(false)
	if s.eof() {
		return
	}
	switch c := s.src[s.i]; c {
	case '"', '\'':
		if s.peek(1) == c && s.peek(2) == c {
			s.multiline(c, c == '"')
		} else if c == '"' {
			s.basicString()
		} else {
			s.literalString()
		}
	case '[':
		s.i++
		for {
			s.skip(true)
			if s.eof() {
				return
			}
			if s.src[s.i] == ']' {
				s.i++
				return
			}
			start := s.i
			s.value(prefix)
			s.skip(true)
			if !s.eof() && s.src[s.i] == ',' {
				s.i++
			} else if s.i == start {
				return
			}
		}
	case '{':
		s.i++
		for {
			s.skip(true)
			if s.eof() {
				return
			}
			if s.src[s.i] == '}' {
				s.i++
				return
			}
			start, line := s.i, s.line
			k := s.key()
			s.skip(false)
			if s.eof() || s.src[s.i] != '=' {
				return
			}
			s.i++
			s.value(s.record(prefix, k, line))
			s.skip(true)
			if !s.eof() && s.src[s.i] == ',' {
				s.i++
			} else if s.i == start {
				return
			}
		}
	default:
		for !s.eof() && !strings.ContainsRune(",]}#\n", rune(s.src[s.i])) {
			s.i++
		}
	}
}
