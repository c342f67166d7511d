package config

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeFast decodes the plain TOML that nearly every tend.toml is written
// in: [table] headers, one-part keys, and values that are strings without
// escapes beyond the common ones, decimal integers and floats, booleans,
// arrays and single-line inline tables. On a file of a thousand workers
// the TOML library was half of Parse, and Parse the largest part of the
// daemon's start before its first spawn; this takes a fraction of that.
//
// It gives the same tree the library would, or ok=false: anything outside
// the subset (dotted keys, [[arrays]], multi-line strings, dates, redefined
// tables and keys, any syntax error) is left to the library, which then also
// reports the errors. TestDecodeFastAgreesWithLibrary holds it to that.
func decodeFast(src []byte) (root map[string]any, ok bool) {
	if !plainText(src) {
		return nil, false
	}
	p := &fastParser{src: src, root: map[string]any{}, tables: map[string]bool{}}
	if !p.document() {
		return nil, false
	}
	return p.root, true
}

// plainText refuses what the subset need not think about again: invalid
// UTF-8, a byte order mark, control characters other than tab, and CR
// outside CRLF.
func plainText(src []byte) bool {
	if !utf8.Valid(src) || strings.HasPrefix(string(src), "\uFEFF") {
		return false
	}
	for i, c := range src {
		switch {
		case c == '\t' || c == '\n':
		case c == '\r':
			if i+1 >= len(src) || src[i+1] != '\n' {
				return false
			}
		case c < 0x20 || c == 0x7f:
			return false
		}
	}
	return true
}

type fastParser struct {
	src  []byte
	i    int
	root map[string]any
	cur  map[string]any
	// tables holds every table a header made, by its parts joined with
	// NUL (which plainText keeps out of keys): true once a header defined
	// it, false while it is only implied by a longer header. A table in
	// the tree but not here is a value (an inline table) and is closed.
	tables map[string]bool
}

func (p *fastParser) eof() bool { return p.i >= len(p.src) }

// blanks skips spaces and tabs.
func (p *fastParser) blanks() {
	for p.i < len(p.src) && (p.src[p.i] == ' ' || p.src[p.i] == '\t') {
		p.i++
	}
}

// endOfLine accepts blanks, an optional comment and a line break or the end.
func (p *fastParser) endOfLine() bool {
	p.blanks()
	if p.i < len(p.src) && p.src[p.i] == '#' {
		for p.i < len(p.src) && p.src[p.i] != '\n' {
			p.i++
		}
	}
	if p.eof() {
		return true
	}
	if p.src[p.i] == '\r' {
		p.i++
	}
	if p.i < len(p.src) && p.src[p.i] == '\n' {
		p.i++
		return true
	}
	return false
}

func (p *fastParser) document() bool {
	p.cur = p.root
	for !p.eof() {
		p.blanks()
		if p.eof() {
			return true
		}
		switch p.src[p.i] {
		case '#', '\r', '\n':
		case '[':
			if !p.header() {
				return false
			}
		default:
			k, ok := p.key()
			if !ok {
				return false
			}
			p.blanks()
			if p.eof() || p.src[p.i] != '=' {
				return false // a dotted key, or not a key at all
			}
			p.i++
			p.blanks()
			if _, dup := p.cur[k]; dup {
				return false
			}
			v, ok := p.value(false)
			if !ok {
				return false
			}
			p.cur[k] = v
		}
		if !p.endOfLine() {
			return false
		}
	}
	return true
}

// header reads [a.b.c] and makes it the current table.
func (p *fastParser) header() bool {
	p.i++ // '['
	if p.i < len(p.src) && p.src[p.i] == '[' {
		return false
	}
	m := p.root
	var path strings.Builder
	for {
		p.blanks()
		part, ok := p.key()
		if !ok {
			return false
		}
		p.blanks()
		if p.eof() {
			return false
		}
		last := p.src[p.i] == ']'
		if !last && p.src[p.i] != '.' {
			return false
		}
		p.i++
		path.WriteByte(0)
		path.WriteString(part)
		id := path.String()
		if v, exists := m[part]; exists {
			defined, isTable := p.tables[id]
			if !isTable || last && defined {
				return false
			}
			m = v.(map[string]any)
		} else {
			t := map[string]any{}
			m[part] = t
			m = t
		}
		if last {
			p.tables[id] = true
			p.cur = m
			return true
		}
		if _, known := p.tables[id]; !known {
			p.tables[id] = false
		}
	}
}

func isBareKey(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// key reads one key part: bare, or quoted without escapes, and not empty.
func (p *fastParser) key() (string, bool) {
	if p.eof() {
		return "", false
	}
	start := p.i
	switch q := p.src[p.i]; q {
	case '"', '\'':
		p.i++
		for p.i < len(p.src) && p.src[p.i] != q {
			if c := p.src[p.i]; c == '\\' || c == '\n' || c == '\r' {
				return "", false
			}
			p.i++
		}
		if p.eof() || p.i == start+1 {
			return "", false
		}
		p.i++
		return string(p.src[start+1 : p.i-1]), true
	}
	for p.i < len(p.src) && isBareKey(p.src[p.i]) {
		p.i++
	}
	if p.i == start {
		return "", false
	}
	return string(p.src[start:p.i]), true
}

// value reads one value. Inside an inline table nothing may span lines.
func (p *fastParser) value(inline bool) (any, bool) {
	if p.eof() {
		return nil, false
	}
	switch p.src[p.i] {
	case '"':
		return p.basicString()
	case '\'':
		return p.literalString()
	case '[':
		return p.array(inline)
	case '{':
		return p.inlineTable()
	}
	start := p.i
	for p.i < len(p.src) && !strings.ContainsRune(" \t\r\n,]}#", rune(p.src[p.i])) {
		p.i++
	}
	return scalar(string(p.src[start:p.i]))
}

// scalar reads a boolean, a decimal integer or a decimal float; hex, octal,
// binary, underscores, inf, nan and dates are left to the library.
func scalar(tok string) (any, bool) {
	switch tok {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	digits := strings.TrimLeft(tok, "+-")
	if len(tok)-len(digits) > 1 {
		return nil, false
	}
	intPart, rest := leadingDigits(digits)
	if intPart == "" || len(intPart) > 1 && intPart[0] == '0' {
		return nil, false
	}
	if rest == "" {
		n, err := strconv.ParseInt(tok, 10, 64)
		return n, err == nil
	}
	if rest[0] == '.' {
		var frac string
		frac, rest = leadingDigits(rest[1:])
		if frac == "" {
			return nil, false
		}
	}
	if rest != "" {
		if rest[0] != 'e' && rest[0] != 'E' {
			return nil, false
		}
		rest = rest[1:]
		if rest != "" && (rest[0] == '+' || rest[0] == '-') {
			rest = rest[1:]
		}
		var exp string
		exp, rest = leadingDigits(rest)
		if exp == "" || rest != "" {
			return nil, false
		}
	}
	f, err := strconv.ParseFloat(tok, 64)
	return f, err == nil
}

func leadingDigits(s string) (digits, rest string) {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return s[:n], s[n:]
}

// basicString reads "..." with the escapes \" \\ \n \t \r \b \f.
func (p *fastParser) basicString() (any, bool) {
	p.i++
	if p.i+1 < len(p.src) && p.src[p.i] == '"' && p.src[p.i+1] == '"' {
		return nil, false // multi-line
	}
	start := p.i
	escaped := false
	for p.i < len(p.src) && p.src[p.i] != '"' {
		switch p.src[p.i] {
		case '\n', '\r':
			return nil, false
		case '\\':
			if p.i+1 >= len(p.src) || !strings.ContainsRune(`"\ntrbf`, rune(p.src[p.i+1])) {
				return nil, false
			}
			escaped = true
			p.i++
		}
		p.i++
	}
	if p.eof() {
		return nil, false
	}
	raw := p.src[start:p.i]
	p.i++
	if !escaped {
		return string(raw), true
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\\' {
			i++
			c = unescape(raw[i])
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	}
	return c // '"' and '\\'
}

func (p *fastParser) literalString() (any, bool) {
	p.i++
	if p.i+1 < len(p.src) && p.src[p.i] == '\'' && p.src[p.i+1] == '\'' {
		return nil, false // multi-line
	}
	start := p.i
	for p.i < len(p.src) && p.src[p.i] != '\'' {
		if c := p.src[p.i]; c == '\n' || c == '\r' {
			return nil, false
		}
		p.i++
	}
	if p.eof() {
		return nil, false
	}
	p.i++
	return string(p.src[start : p.i-1]), true
}

// gap skips what may stand between array elements: blanks, and unless
// inline, comments and line breaks.
func (p *fastParser) gap(inline bool) bool {
	for {
		p.blanks()
		if p.eof() {
			return true
		}
		switch p.src[p.i] {
		case '#', '\r', '\n':
			if inline || !p.endOfLine() {
				return false
			}
		default:
			return true
		}
	}
}

func (p *fastParser) array(inline bool) (any, bool) {
	p.i++ // '['
	out := []any{}
	for {
		if !p.gap(inline) || p.eof() {
			return nil, false
		}
		if p.src[p.i] == ']' {
			p.i++
			return out, true
		}
		v, ok := p.value(inline)
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if !p.gap(inline) || p.eof() {
			return nil, false
		}
		switch p.src[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return out, true
		default:
			return nil, false
		}
	}
}

// inlineTable reads { k = v, ... } on one line, without a trailing comma.
func (p *fastParser) inlineTable() (any, bool) {
	p.i++ // '{'
	out := map[string]any{}
	p.blanks()
	if p.i < len(p.src) && p.src[p.i] == '}' {
		p.i++
		return out, true
	}
	for {
		p.blanks()
		k, ok := p.key()
		if !ok {
			return nil, false
		}
		p.blanks()
		if p.eof() || p.src[p.i] != '=' {
			return nil, false
		}
		p.i++
		p.blanks()
		if _, dup := out[k]; dup {
			return nil, false
		}
		v, ok := p.value(true)
		if !ok {
			return nil, false
		}
		out[k] = v
		p.blanks()
		if p.eof() {
			return nil, false
		}
		switch p.src[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return out, true
		default:
			return nil, false
		}
	}
}
