package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a configuration file.
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // full key path, e.g. worker.web.stop_timeout; empty for syntax errors
	Msg  string
	Err  error // the error Msg came from, if any, for errors.Is and As
}

// Unwrap returns the error the message came from.
func (e *Error) Unwrap() error { return e.Err }

// Error renders "file:line: key: msg", leaving out the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file, sorted by line.
type Errors []*Error

// Error joins the problems one per line.
func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Unwrap lets errors.As find an individual *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sorted orders by file (those of files in the order given, the others in
// the order they first appear) and by line, keeping discovery order within
// a line so that related messages stay together.
func (es Errors) sorted(files ...string) Errors {
	rank := map[string]int{}
	for _, f := range files {
		if _, ok := rank[f]; !ok {
			rank[f] = len(rank)
		}
	}
	for _, e := range es {
		if _, ok := rank[e.File]; !ok {
			rank[e.File] = len(rank)
		}
	}
	sort.SliceStable(es, func(i, j int) bool {
		if ri, rj := rank[es[i].File], rank[es[j].File]; ri != rj {
			return ri < rj
		}
		return es[i].Line < es[j].Line
	})
	return es
}

// err returns nil for no problems; returning a nil Errors as error would be
// a non-nil interface. files orders the files the problems are in (see
// sorted).
func (es Errors) err(files ...string) error {
	if len(es) == 0 {
		return nil
	}
	return es.sorted(files...)
}

// dedup drops a problem reported already, in the same words at the same
// place: the instances of a template share their keys and lines.
func (es Errors) dedup() Errors {
	type at struct {
		file, key, msg string
		line           int
	}
	seen := map[at]bool{}
	out := es[:0]
	for _, e := range es {
		k := at{e.File, e.Key, e.Msg, e.Line}
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}
