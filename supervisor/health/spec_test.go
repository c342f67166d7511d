package health

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func validSpec(typ Type) Spec {
	s := Spec{Type: typ, Interval: time.Second, Timeout: time.Second, Failures: 1}
	switch typ {
	case TypeExec:
		s.Command = []string{"true"}
	case TypeTCP:
		s.Address = "127.0.0.1:80"
	case TypeHTTP:
		s.URL = "http://127.0.0.1/healthz"
	}
	return s
}

func TestValidate(t *testing.T) {
	for _, typ := range Types() {
		if err := validSpec(typ).Validate(); err != nil {
			t.Errorf("%s: valid spec rejected: %v", typ, err)
		}
	}
	cases := []struct {
		name  string
		edit  func(*Spec)
		field string
	}{
		{"unknown type", func(s *Spec) { s.Type = "grpc" }, "Type"},
		{"empty type", func(s *Spec) { s.Type = "" }, "Type"},
		{"no command", func(s *Spec) { s.Command = nil }, "Command"},
		{"empty command", func(s *Spec) { s.Command = []string{} }, "Command"},
		{"empty argv0", func(s *Spec) { s.Command = []string{""} }, "Command"},
		{"zero interval", func(s *Spec) { s.Interval = 0 }, "Interval"},
		{"negative timeout", func(s *Spec) { s.Timeout = -1 }, "Timeout"},
		{"negative grace", func(s *Spec) { s.Grace = -time.Second }, "Grace"},
		{"zero failures", func(s *Spec) { s.Failures = 0 }, "Failures"},
		{"url on exec", func(s *Spec) { s.URL = "http://x/" }, "URL"},
		{"address on exec", func(s *Spec) { s.Address = "x:1" }, "Address"},
	}
	for _, c := range cases {
		s := validSpec(TypeExec)
		c.edit(&s)
		assertFields(t, c.name, s.Validate(), c.field)
	}
	tcp := validSpec(TypeTCP)
	for _, addr := range []string{"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http"} {
		tcp.Address = addr
		assertFields(t, "tcp "+addr, tcp.Validate(), "Address")
	}
	// No host dials this host, as net.Dial has it.
	tcp.Address = ":80"
	if err := tcp.Validate(); err != nil {
		t.Errorf("tcp :80: %v", err)
	}
	h := validSpec(TypeHTTP)
	for _, u := range []string{"", "ftp://x/", "http:///path", "://bad", "127.0.0.1:80/healthz"} {
		h.URL = u
		assertFields(t, "http "+u, h.Validate(), "URL")
	}
	h = validSpec(TypeHTTP)
	h.Command = []string{}
	assertFields(t, "empty command on http", h.Validate(), "Command")

	// Every bad field is reported, in field order; an unknown type says
	// nothing about the targets it would have needed.
	s := Spec{Type: "grpc", Address: "x:1", Timeout: -1}
	assertFields(t, "many", s.Validate(), "Type", "Interval", "Timeout", "Failures")
	s = Spec{Type: TypeTCP, Command: []string{"true"}, URL: "http://x/", Interval: 1, Timeout: 1, Failures: 1}
	assertFields(t, "targets", s.Validate(), "Command", "Address", "URL")
}

// The reasons name the key and the types concerned, never the value: a URL
// or a command may carry a secret, and the field already points at it.
func TestValidateWording(t *testing.T) {
	secret := "hunter2-secret"
	s := Spec{Type: TypeHTTP, URL: "http://" + secret + "@", Address: secret + ":1", Interval: 1, Timeout: 1, Failures: 1}
	err := s.Validate()
	want := []string{
		`health: Address: is only used with type = "tcp", not "http"`,
		`health: URL: invalid URL (use e.g. "http://127.0.0.1:8080/healthz")`,
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	s = Spec{Type: TypeTCP, Interval: 1, Timeout: 1, Failures: 1}
	if got, want := s.Validate().Error(), `health: Address: must be set for type = "tcp"`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	s = Spec{Type: Type(secret), Interval: 1, Timeout: 1, Failures: 1}
	if got, want := s.Validate().Error(), `health: Type: invalid value (use one of "exec", "tcp", "http")`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Each probe type checks a target that Validate knows how to tell set from
// unset, and that is a field of Spec: a row naming anything else would
// leave its target unchecked.
func TestProbeTypesTable(t *testing.T) {
	seen := map[Type]bool{}
	for _, p := range probeTypes {
		if seen[p.typ] {
			t.Errorf("%s listed twice", p.typ)
		}
		seen[p.typ] = true
		if !slices.ContainsFunc(targets, func(tg targetField) bool { return tg.field == p.target }) {
			t.Errorf("%s: target %s is not in targets", p.typ, p.target)
		}
		if p.check == nil || p.prober == nil {
			t.Errorf("%s: no check or no prober", p.typ)
		}
	}
	for _, tg := range targets {
		if _, ok := reflect.TypeFor[Spec]().FieldByName(tg.field); !ok {
			t.Errorf("target %s is not a field of Spec", tg.field)
		}
	}
}

// assertFields expects err to be exactly one *FieldError for each of
// fields, in that order.
func assertFields(t *testing.T, name string, err error, fields ...string) {
	t.Helper()
	var got []string
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	for _, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Errorf("%s: %v is not a *FieldError", name, e)
			return
		}
		got = append(got, fe.Field)
	}
	if !slices.Equal(got, fields) {
		t.Errorf("%s: errors name %v, want %v (%v)", name, got, fields, err)
	}
}
