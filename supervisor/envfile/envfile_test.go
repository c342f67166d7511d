package envfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	src := strings.Join([]string{
		"# a comment",
		"; another",
		"",
		"  PLAIN=value with  inner blanks   ",
		"EMPTY=",
		`DOUBLE="a \"quoted\" \$HOME \\ \n end"`,
		`UNQUOTED=keeps "quotes" and \# escapes\\`,
		"MULTI='line one",
		"line two'",
		`CONT=joined \`,
		`here`,
		`DQCONT="a\`,
		`b"`,
		"  SPACED  =  x  ",
		"TRAIL='t'   ",
		"PLAIN=again",
	}, "\n")
	vars, err := Parse("app.env", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	lines := map[string]int{}
	for _, v := range vars {
		got[v.Name] = v.Value
		lines[v.Name] = v.Line
	}
	want := map[string]string{
		"PLAIN":    "again",
		"EMPTY":    "",
		"DOUBLE":   `a "quoted" $HOME \ \n end`,
		"UNQUOTED": `keeps "quotes" and # escapes\`,
		"MULTI":    "line one\nline two",
		"CONT":     "joined here",
		"DQCONT":   "ab",
		"SPACED":   "x",
		"TRAIL":    "t",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if lines["MULTI"] != 8 || lines["CONT"] != 10 || lines["SPACED"] != 14 {
		t.Errorf("lines = %v", lines)
	}
	if vars[0].Name != "PLAIN" || vars[0].Value != "value with  inner blanks" {
		t.Errorf("first = %+v", vars[0])
	}
}

func TestParseSingleQuoted(t *testing.T) {
	vars, err := Parse("f", []byte("A='no \\escapes \"here\"'\nB=  'spaced'  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if vars[0].Value != `no \escapes "here"` || vars[1].Value != "spaced" {
		t.Errorf("%+v", vars)
	}
}

// TestParseErrorsNeverShowValues feeds lines that are wrong in every way
// the parser knows, each holding a secret, and checks each error names the
// file and line and never the secret.
func TestParseErrorsNeverShowValues(t *testing.T) {
	const secret = "hunter2-s3cr3t"
	cases := []struct {
		src  string
		line int
		msg  string
	}{
		{"OK=1\n" + secret + "\n", 2, "not an assignment"},
		{"export DB=" + secret + "\n", 1, `without "export"`},
		{"1BAD=" + secret + "\n", 1, "invalid variable name"},
		{"A-B=" + secret + "\n", 1, "invalid variable name"},
		{"\nPW='" + secret + "\nmore\n", 2, "never closed"},
		{`PW="` + secret + `\"` + "\n", 1, "never closed"},
		{`PW="x"` + secret + "\n", 1, "after the closing quote"},
		{"PW=" + secret + "\x00\n", 1, "NUL"},
	}
	for _, c := range cases {
		_, err := Parse("/etc/app/env", []byte(c.src))
		if err == nil {
			t.Errorf("%q: no error", c.src)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, secret) || strings.Contains(msg, "hunter") {
			t.Errorf("%q: error shows the secret: %s", c.src, msg)
		}
		var e *Error
		if !errors.As(err, &e) || e.Line != c.line || e.Path != "/etc/app/env" || !strings.Contains(msg, c.msg) {
			t.Errorf("%q: error %q, want line %d and %q", c.src, msg, c.line, c.msg)
		}
	}
	if _, err := Parse("f", []byte{'A', '=', 0xff, '\n'}); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse("f", []byte("bad one\nOK=1\nbad two\n"))
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 || es[0].Line != 1 || es[1].Line != 3 {
		t.Fatalf("err = %v", err)
	}
}

func TestReadRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Read(fifo); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("fifo: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO blocked")
	}
	if _, err := Read(dir); !errors.Is(err, ErrNotRegular) {
		t.Errorf("directory: %v", err)
	}
	if _, err := Read("/dev/zero"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("device: %v", err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, MaxSize+1), 0o600)
	if _, err := Read(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestEnvironAndOptional(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	b := filepath.Join(dir, "b")
	os.WriteFile(a, []byte("X=1\nY=2\nX=3\n"), 0o600)
	os.WriteFile(b, []byte("Y=from-b\nZ=z\n"), 0o600)
	env, err := Environ([]File{{Path: a}, {Path: filepath.Join(dir, "gone"), Optional: true}, {Path: b}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"X=3", "Y=from-b", "Z=z"}; !reflect.DeepEqual(env, want) {
		t.Errorf("env = %q, want %q", env, want)
	}
	if _, err := Environ([]File{{Path: filepath.Join(dir, "gone")}}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a required missing file: %v", err)
	}
	// Optional covers a missing file only, not one that cannot be read.
	os.WriteFile(filepath.Join(dir, "bad"), []byte("nope\n"), 0o600)
	if _, err := Environ([]File{{Path: filepath.Join(dir, "bad"), Optional: true}}); err == nil {
		t.Error("an optional file with a bad line passed")
	}
}

func TestSumFollowsAssignmentsNotText(t *testing.T) {
	sum := func(src string) string {
		vs, err := Parse("f", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return Sum(vs, true)
	}
	base := sum("A=1\nB=2\n")
	if sum("# note\nA=1\n\nB='2'\n") != base {
		t.Error("comments and quoting changed the sum")
	}
	for _, other := range []string{"A=1\nB=3\n", "B=2\nA=1\n", "A=1\n", "A=1\nB=2\nC=\n", "A=12\nB=\n"} {
		if sum(other) == base {
			t.Errorf("%q has the sum of the base", other)
		}
	}
	if Sum(nil, false) == Sum(nil, true) {
		t.Error("a missing file sums like an empty one")
	}
}
