package config

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// decoder collects problems while the generic TOML tree is turned into
// typed settings, so that one run reports every problem in the files.
type decoder struct {
	main *source
	// workers maps a worker's name to the file that defines it (the main
	// file or one it includes).
	workers map[string]*source
	// templates are the workers with instances, by name.
	templates map[string]*Template
	errs      Errors
	// files are the files read so far, the main one first, so problems
	// are reported file by file in that order.
	files []string
	// included are the included files decoded, in the order read.
	included []*source
	// kept, when set, are the included files as a Settled configuration
	// kept them: includes are matched and read among these, not on disk.
	kept []*source
}

// err is every problem found, in file and line order.
func (d *decoder) err() error { return d.errs.dedup().err(d.files...) }

// source is one file of the configuration, with its line index.
//
// The index is made while the file is decoded, and costs about 300 bytes
// a worker; what a daemon keeps for the configuration in force needs it
// only for the rare problem found later (a scale, a kernel limit), so
// Config.Settle drops it and lines makes it again from the text, which is
// a fifth of its size.
type source struct {
	file string // as errors name it
	text string // the file's contents, as decoded

	mu sync.Mutex // guards ix: a settled configuration is shared by the daemon's goroutines
	ix lineIndex  // nil once dropped
}

func newSource(file, text string, ix lineIndex) *source {
	return &source{file: file, text: text, ix: ix}
}

// lines is the file's line index, made again from the text if dropped.
func (s *source) lines() lineIndex {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ix == nil {
		s.ix = indexLines(s.text)
	}
	return s.ix
}

// dropLines lets the index go; lines makes it again when it is needed.
func (s *source) dropLines() {
	s.mu.Lock()
	s.ix = nil
	s.mu.Unlock()
}

// sourceOf is the file that holds key: a worker's keys are in the file
// that defines the worker, everything else is in the main file.
func (d *decoder) sourceOf(key toml.Key) *source {
	if len(key) >= 2 && key[0] == "worker" {
		if s := d.workers[key[1]]; s != nil {
			return s
		}
	}
	return d.main
}

func (d *decoder) errorf(key toml.Key, format string, args ...any) {
	src := d.sourceOf(key)
	d.errs = append(d.errs, &Error{File: src.file, Line: src.lines().find(key), Key: key.String(), Msg: fmt.Sprintf(format, args...)})
}

// table reads typed values out of one TOML table. Every key asked for is
// remembered, so whatever is left at the end is, by construction, unknown.
// The names asked for are kept in a slice, repeats and all: a table is asked
// for a few dozen names at most (env excepted), and a map per table was a
// good part of parsing a file with a thousand workers.
type table struct {
	d     *decoder
	src   *source // the file the table is in
	path  toml.Key
	m     map[string]any
	asked []string
}

func newTable(d *decoder, src *source, path toml.Key, m map[string]any) *table {
	return &table{d: d, src: src, path: path, m: m, asked: make([]string, 0, 32)}
}

func (t *table) key(name string) toml.Key {
	return append(t.path[:len(t.path):len(t.path)], name)
}

func (t *table) errorf(name, format string, args ...any) {
	k := t.key(name)
	t.d.errs = append(t.d.errs, &Error{File: t.src.file, Line: t.src.lines().find(k), Key: k.String(), Msg: fmt.Sprintf(format, args...)})
}

func (t *table) get(name string) (any, bool) {
	t.asked = append(t.asked, name)
	v, ok := t.m[name]
	return v, ok
}

func (t *table) has(name string) bool {
	_, ok := t.m[name]
	return ok
}

func (t *table) line(name string) int {
	if name == "" {
		return t.src.lines().find(t.path)
	}
	return t.src.lines().find(t.key(name))
}

// describe names the type of a TOML value, for "got ..." in type errors.
// It never shows the value: a value in the wrong place may be a secret
// (an error message ends up in terminals, CI logs and tickets), and the
// file and line already point at it.
func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case []map[string]any:
		return "an array of tables"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a datetime"
	}
	return fmt.Sprintf("%T", v)
}

func (t *table) wrongType(name, want string, v any) {
	t.errorf(name, "expected %s, got %s", want, describe(v))
}

func (t *table) str(name, def string) string {
	v, ok := t.get(name)
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		t.wrongType(name, "a string", v)
		return def
	}
	if strings.ContainsRune(s, 0) {
		t.errorf(name, "must not contain a NUL byte")
		return def
	}
	return s
}

// secret reads a string whose value must never appear in an error: an
// environment value may be a password. Errors name the key and the kind
// of value only.
func (t *table) secret(name string) string {
	v, ok := t.get(name)
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		t.errorf(name, "expected a string, got %s (the value is not shown: it may be a secret)", kind(v))
		return ""
	}
	if strings.ContainsRune(s, 0) {
		t.errorf(name, "must not contain a NUL byte")
		return ""
	}
	return s
}

// kind names the type of a TOML value without its value.
func kind(v any) string {
	switch v.(type) {
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a datetime"
	}
	return describe(v) // arrays and tables: describe shows no value
}

func (t *table) boolean(name string, def bool) bool {
	v, ok := t.get(name)
	if !ok {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		t.wrongType(name, "true or false", v)
		return def
	}
	return b
}

// integer reads a whole number no smaller than min.
func (t *table) integer(name string, def, min int) int {
	return t.intIn(name, def, min, math.MaxInt32)
}

// duration reads a non-negative duration string. Bare numbers are refused
// rather than guessed at: "5" could mean seconds or nanoseconds.
func (t *table) duration(name string, def time.Duration) time.Duration {
	v, ok := t.get(name)
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		t.wrongType(name, `a duration such as "10s"`, v)
		return def
	}
	d, err := ParseDuration(s)
	if err != nil {
		t.errorf(name, "%v", err)
		return def
	}
	if d < 0 {
		t.errorf(name, "must not be negative")
		return def
	}
	if d > MaxDuration {
		t.errorf(name, "must be at most %s", humanDuration(MaxDuration))
		return def
	}
	return d
}

// size reads a size string or a plain integer number of bytes.
func (t *table) size(name string, def uint64) uint64 {
	v, ok := t.get(name)
	if !ok {
		return def
	}
	switch v := v.(type) {
	case string:
		n, err := ParseSize(v)
		if err != nil {
			t.errorf(name, "%v", err)
			return def
		}
		return n
	case int64:
		if v < 0 {
			t.errorf(name, "must not be negative")
			return def
		}
		return uint64(v)
	}
	t.wrongType(name, `a size such as "512MiB"`, v)
	return def
}

func (t *table) enum(name, def string, allowed ...string) string {
	v, ok := t.get(name)
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		t.wrongType(name, "one of "+quoteList(allowed), v)
		return def
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	t.errorf(name, "invalid value (use one of %s)", quoteList(allowed))
	return def
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// stringList reads an array of strings; present reports whether the key was
// written at all, so callers can tell "missing" from "wrong".
func (t *table) stringList(name string) (out []string, present bool) {
	v, ok := t.get(name)
	if !ok {
		return nil, false
	}
	arr, ok := v.([]any)
	if !ok {
		t.wrongType(name, `an array of strings such as ["/usr/bin/app", "--flag"]`, v)
		return nil, true
	}
	out = make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			t.errorf(name, "element %d: expected a string, got %s", i, describe(e))
			return nil, true
		}
		if strings.ContainsRune(s, 0) {
			t.errorf(name, "element %d must not contain a NUL byte", i)
			return nil, true
		}
		out = append(out, s)
	}
	return out, true
}

// number reads an integer or a float as float64.
func (t *table) number(name string) (float64, bool) {
	v, ok := t.get(name)
	if !ok {
		return 0, false
	}
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	t.wrongType(name, "a number", v)
	return 0, false
}

// sub returns the child table name, or nil when it is absent or not a table.
func (t *table) sub(name string) *table {
	v, ok := t.get(name)
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.wrongType(name, "a table", v)
		return nil
	}
	return newTable(t.d, t.src, t.key(name), m)
}

// finish reports every key that nobody asked for. The nearest known key is
// suggested because most unknown keys are typos.
func (t *table) finish() {
	var unknown []string
	if len(t.asked) > 64 {
		asked := make(map[string]bool, len(t.asked))
		for _, k := range t.asked {
			asked[k] = true
		}
		for k := range t.m {
			if !asked[k] {
				unknown = append(unknown, k)
			}
		}
	} else {
		for k := range t.m {
			if !slices.Contains(t.asked, k) {
				unknown = append(unknown, k)
			}
		}
	}
	if len(unknown) == 0 {
		return
	}
	sort.Strings(unknown)
	known := slices.Compact(slices.Sorted(slices.Values(t.asked)))
	for _, k := range unknown {
		msg := "unknown key"
		if s := closest(k, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		t.errorf(k, "%s", msg)
	}
}
