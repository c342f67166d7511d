package config

import (
	"strings"
	"testing"
)

// A syntax error keeps the library's words and line but not the text of
// the file it quotes: a secret written without its quotes, or with a bad
// escape in it, would be echoed otherwise.
func TestSyntaxErrorsQuoteNothingOfTheFile(t *testing.T) {
	const secret = "hunter2secret"
	for _, c := range []struct{ src, want string }{
		{"state_dir = hunter2secret", "expected value but found … instead"},
		{"state_dir = truehunter2secret", "expected value but found … instead"},
		{`state_dir = "hunter2secret\q"`, `invalid escape in string '\q'`},
		{`state_dir = "hunter2secret\xZZ"`, `expected two hexadecimal digits after '\x', but got … instead`},
		{`state_dir = "hunter2secret\u12G4"`, `expected four hexadecimal digits after '\u', but got … instead`},
		{"state_dir = 0hunter2secret", ""},
		{"state_dir = 01234567890", "Invalid integer …: cannot have leading zeroes"},
		{"state_dir = 1.2.3", "Invalid float value: …"},
		{"state_dir = 0xhunter2secret", "not a hexadecimal number: …"},
		{"state_dir = 1_000_", "Invalid integer …: underscores must be surrounded by digits"},
		{"state_dir =", `expected value but found '\n' instead`},
		{"state_dir = '''", `unexpected EOF; expected "'''"`},
	} {
		_, err := Parse("tend.toml", []byte("[daemon]\n"+c.src+"\n"))
		if err == nil {
			t.Fatalf("%q parsed", c.src)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "tend.toml:2: syntax error: ") || strings.Contains(msg, secret) ||
			strings.Contains(msg, "01234567890") || strings.Contains(msg, "1.2.3") {
			t.Errorf("%q: %s", c.src, msg)
		}
		if c.want != "" && !strings.HasSuffix(msg, c.want) {
			t.Errorf("%q: %s, want it to end %q", c.src, msg, c.want)
		}
	}
}
