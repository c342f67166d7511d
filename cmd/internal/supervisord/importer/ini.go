package importer

import (
	"fmt"
	"strings"
)

// option is one key of a section, with where it was set. A later
// definition of the same key replaces an earlier one, as configparser does
// with strict=False.
type option struct {
	key   string // lower-cased, as configparser's optionxform does
	value string // continuation lines joined with "\n", trailing blank lines removed
	file  string
	line  int
	order int // position of the first definition, for stable reporting
}

// section is one [name] section, possibly assembled from several headers in
// several files (configparser merges repeated sections).
type section struct {
	name string
	file string // of the first header
	line int
	opts map[string]*option
	n    int
}

func (s *section) get(key string) (*option, bool) {
	o, ok := s.opts[key]
	return o, ok
}

// ordered returns the options in the order they were first defined.
func (s *section) ordered() []*option {
	out := make([]*option, 0, len(s.opts))
	for _, o := range s.opts {
		out = append(out, o)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].order < out[j-1].order; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// ini is the parsed content of a configuration and everything it includes.
type ini struct {
	sections map[string]*section
	order    []string // section names in first-seen order
}

func newINI() *ini { return &ini{sections: make(map[string]*section)} }

// parseError is a syntax error that stops the conversion, as it stops
// supervisord.
type parseError struct {
	file string
	line int
	msg  string
}

func (e *parseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

// inlineCommentStart finds where an inline comment starts the way Python's
// configparser does: a ";" or "#" at the start of the line or after
// whitespace. It scans the prefixes in rounds, one occurrence of each per
// round, and stops at the first round that finds a comment; that is not
// always the leftmost candidate, but it is what supervisord sees.
func inlineCommentStart(line string) int {
	prefixes := []byte{';', '#'}
	index := []int{-1, -1}
	alive := []bool{true, true}
	start := -1
	for start == -1 {
		any := false
		for i, p := range prefixes {
			if !alive[i] {
				continue
			}
			from := index[i] + 1
			if from > len(line) {
				alive[i] = false
				continue
			}
			j := strings.IndexByte(line[from:], p)
			if j < 0 {
				alive[i] = false
				continue
			}
			any = true
			j += from
			index[i] = j
			if j == 0 || isPySpace(line[j-1]) {
				if start == -1 || j < start {
					start = j
				}
			}
		}
		if !any {
			break
		}
	}
	return start
}

func isPySpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func pyStrip(s string) string { return strings.Trim(s, " \t\n\r\v\f") }

// parse reads one file's bytes into in. It follows configparser's loop
// closely because the edge cases (indented keys continuing the previous
// value, comments inside values, blank lines inside values) change what a
// program runs.
func (in *ini) parse(file string, data []byte) error {
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	text = strings.TrimPrefix(text, "\ufeff")
	lines := strings.Split(text, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}

	var cur *section
	var curOpt *option
	var parts []string // lines of curOpt's value
	indentLevel := 0
	flush := func() {
		if curOpt != nil {
			curOpt.value = strings.TrimRight(strings.Join(parts, "\n"), " \t\n\r\v\f")
		}
		curOpt, parts = nil, nil
	}

	for i, raw := range lines {
		lineno := i + 1
		commentStart := inlineCommentStart(raw)
		stripped := pyStrip(raw)
		if strings.HasPrefix(stripped, ";") || strings.HasPrefix(stripped, "#") {
			commentStart = 0
		}
		value := raw
		if commentStart >= 0 {
			value = raw[:commentStart]
		}
		value = pyStrip(value)
		if value == "" {
			// configparser keeps blank lines inside a value (they are
			// trimmed from its end later) but not comment-only lines.
			if commentStart < 0 && curOpt != nil {
				parts = append(parts, "")
			}
			continue
		}
		indent := len(raw) - len(strings.TrimLeft(raw, " \t\n\r\v\f"))
		if cur != nil && curOpt != nil && indent > indentLevel {
			parts = append(parts, value)
			continue
		}
		indentLevel = indent
		if strings.HasPrefix(value, "[") {
			if end := strings.LastIndexByte(value, ']'); end > 1 {
				flush()
				name := value[1:end]
				s, ok := in.sections[name]
				if !ok {
					s = &section{name: name, file: file, line: lineno, opts: make(map[string]*option)}
					in.sections[name] = s
					in.order = append(in.order, name)
				}
				cur = s
				continue
			}
		}
		if cur == nil {
			return &parseError{file, lineno, fmt.Sprintf("line %q comes before any [section] header", pyStrip(raw))}
		}
		k := strings.IndexAny(value, "=:")
		if k < 0 {
			return &parseError{file, lineno, fmt.Sprintf("cannot parse %q: expected key = value", value)}
		}
		key := strings.ToLower(strings.TrimRight(value[:k], " \t\n\r\v\f"))
		if key == "" {
			return &parseError{file, lineno, fmt.Sprintf("cannot parse %q: empty key", value)}
		}
		flush()
		o, ok := cur.opts[key]
		if !ok {
			o = &option{key: key, order: cur.n}
			cur.n++
			cur.opts[key] = o
		}
		o.file, o.line = file, lineno
		curOpt = o
		parts = []string{pyStrip(value[k+1:])}
	}
	flush()
	return nil
}
