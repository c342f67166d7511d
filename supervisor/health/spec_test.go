package health

import (
	"errors"
	"testing"
	"time"
)

func validSpec(typ string) Spec {
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
	for _, typ := range []string{TypeExec, TypeTCP, TypeHTTP} {
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
		assertField(t, c.name, s.Validate(), c.field)
	}
	tcp := validSpec(TypeTCP)
	for _, addr := range []string{"", "127.0.0.1", ":80", "127.0.0.1:"} {
		tcp.Address = addr
		assertField(t, "tcp "+addr, tcp.Validate(), "Address")
	}
	h := validSpec(TypeHTTP)
	for _, u := range []string{"", "ftp://x/", "http:///path", "://bad", "127.0.0.1:80/healthz"} {
		h.URL = u
		assertField(t, "http "+u, h.Validate(), "URL")
	}
	h = validSpec(TypeHTTP)
	h.Command = []string{"true"}
	assertField(t, "command on http", h.Validate(), "Command")
}

func assertField(t *testing.T, name string, err error, field string) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Errorf("%s: got %v, want a *FieldError for %s", name, err, field)
		return
	}
	if fe.Field != field {
		t.Errorf("%s: error names %s, want %s (%v)", name, fe.Field, field, err)
	}
}
