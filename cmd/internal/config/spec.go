package config

import (
	"errors"
	"reflect"
	"strconv"
	"strings"

	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
)

// The health check, the limits and the restart policy are decoded straight
// into the spec types of the packages that act on them, and those packages
// say what is valid: their Validate returns a FieldError for each bad field,
// and the field's toml tag names its key. This file turns those into this
// package's Errors.

// specErrors reports each field error of spec's Validate (err) at its key
// in t. A key that has a problem reported already is skipped: the
// decoder's own complaint (the value's type, syntax or bound) is the more
// precise, and the value Validate saw there is only the default put in its
// place.
func (t *table) specErrors(spec any, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	typ := reflect.TypeOf(spec)
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	for _, e := range errs {
		key := ""
		field, reason, ok := fieldError(e)
		if f, found := typ.FieldByName(field); ok && found {
			key = f.Tag.Get("toml")
		}
		if key == "" || key == "-" {
			// Not a field the file can set: the spec's own words, at
			// the table. Parse never builds such a spec; this keeps a
			// mistake in a tag from losing an error.
			t.d.errs = append(t.d.errs, &Error{File: t.src.file, Line: t.line(""), Key: t.path.String(), Msg: e.Error(), Err: e})
			continue
		}
		k := t.key(key)
		if t.d.reported(k.String()) {
			continue
		}
		t.d.errs = append(t.d.errs, &Error{File: t.src.file, Line: t.src.lines().find(k), Key: k.String(), Msg: reason, Err: e})
	}
}

// fieldError reads the field and the reason of an owning package's
// FieldError.
func fieldError(err error) (field, reason string, ok bool) {
	var h *health.FieldError
	var l *limits.FieldError
	var p *policy.FieldError
	switch {
	case errors.As(err, &h):
		return h.Field, h.Reason, true
	case errors.As(err, &l):
		return l.Field, l.Reason, true
	case errors.As(err, &p):
		return p.Field, p.Reason, true
	}
	return "", "", false
}

// reported says whether a problem of key (in toml.Key.String form) has
// been reported.
func (d *decoder) reported(key string) bool {
	for _, e := range d.errs {
		if e.Key == key {
			return true
		}
	}
	return false
}

// names turns an owning package's list of values into the strings the
// file spells them with.
func names[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// orList quotes xs as `"a", "b" or "c"`.
func orList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
