package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parseString parses src as if it were the file "tend.toml".
func parseString(t *testing.T, src string) (*Config, error) {
	t.Helper()
	return Parse("tend.toml", []byte(src))
}

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := parseString(t, src)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// configErrors asserts that err is an Errors and returns its messages.
func configErrors(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error, got none")
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, not Errors: %v", err, err)
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Error()
	}
	return out
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func lines(s ...string) string { return strings.Join(s, "\n") + "\n" }

func unwrapAll(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func asErrors(err error, es *Errors) bool { return errors.As(err, es) }

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
