package locate

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"pgregory.net/rapid"
)

// oracle is what a TOML decoder says the [daemon] table's two paths are,
// or false when it cannot decode the file.
func oracle(data string) (stateDir, socket *string, ok bool) {
	var m map[string]any
	if _, err := toml.Decode(data, &m); err != nil {
		return nil, nil, false
	}
	d, _ := m["daemon"].(map[string]any)
	str := func(k string) (*string, bool) {
		v, present := d[k]
		if !present {
			return nil, true
		}
		s, isStr := v.(string)
		return &s, isStr
	}
	sd, ok1 := str("state_dir")
	so, ok2 := str("socket")
	return sd, so, ok1 && ok2
}

// checkAgainstOracle fails when Fast answers and its answer is not the
// decoder's. It reports whether Fast answered.
func checkAgainstOracle(t interface {
	Helper()
	Fatalf(string, ...any)
}, data string) bool {
	t.Helper()
	const path = "/etc/tend/tend.toml"
	got, ok := Fast(path, strings.NewReader(data))
	sd, so, decodes := oracle(data)
	if !ok {
		return false
	}
	if !decodes {
		// Fast reads no more than the [daemon] table: an error elsewhere
		// is the full parse's to report. It must never be an error in
		// how the table is cut out, so the file without its other
		// tables must decode.
		return true
	}
	want := Paths{StateDir: DefaultStateDir}
	if sd != nil {
		if *sd == "" {
			t.Fatalf("Fast answered %+v for an empty state_dir in\n%s", got, data)
		}
		want.StateDir = Resolve("/etc/tend", *sd)
	}
	if so != nil && *so != "" {
		want.Socket = Resolve("/etc/tend", *so)
	} else {
		want.Socket = filepath.Join(want.StateDir, DefaultSocketName)
	}
	if got != want {
		t.Fatalf("Fast = %+v, a TOML decoder says %+v, for\n%s", got, want, data)
	}
	return true
}

func TestFastCases(t *testing.T) {
	cases := []struct {
		name   string
		data   string
		answer bool // whether Fast answers, not hands over
	}{
		{"no daemon table", "[worker.a]\ncommand = [\"x\"]\n", true},
		{"plain", "[daemon]\nstate_dir = \"s\"\n[worker.a]\ncommand = [\"x\"]\n", true},
		{"after a worker", "[worker.a]\ncommand = [\"x\"]\n[daemon]\nsocket = \"/tmp/x.sock\"\nstate_dir = \"s\"\n", true},
		{"comments", "[daemon] # comment\nstate_dir = \"s\" # why\n", true},
		{"literal", "[daemon]\nstate_dir = '/srv/tend'\n", true},
		{"spaces in the header", "[ daemon ]\nstate_dir = \"/spaced\"\n", true},
		{"quoted header", "[\"daemon\"]\nstate_dir = \"/quoted\"\n", true},
		{"quoted key", "[daemon]\n\"state_dir\" = \"/qk\"\n", true},
		{"crlf", "[daemon]\r\nstate_dir = \"/crlf\"\r\n", true},
		{"a header in a multi-line string", "[worker.a]\ncommand = ['''\n[daemon]\nsocket = \"/evil\"\n''']\n", true},
		// The old reader of lines answered /evil.sock here.
		{"a multi-line string ending on a header's line", "[worker.a]\nnote = '''\n[daemon]\nsocket = \"/evil.sock\"\n[x]'''\n", true},
		{"a header in a multi-line basic string", "[worker.a]\nnote = \"\"\"\n\\\"\"\"\n[daemon]\nsocket = \"/evil\"\n\"\"\"\n", true},
		{"a header in a multi-line array", "[worker.a]\ncommand = [\n\"x\",\n[\"daemon\"],\n]\n[daemon]\nstate_dir = \"/real\"\n", true},
		{"subtable after", "[daemon]\nstate_dir = \"/abs/state\"\n[daemon.extra]\nstate_dir = \"/not/this\"\n", true},
		{"dotted at the top", "daemon.state_dir = \"dotted\"\n", false},
		{"inline at the top", "daemon = { state_dir = \"inline\" }\n", false},
		{"multi-line value", "[daemon]\nstate_dir = '''\nmulti\n[line]'''\n", false},
		{"escape", "[daemon]\nstate_dir = \"/a\\u0062\"\n", false},
		// Not TOML, and no daemon runs on it: Fast reads no further
		// than the end of the first table.
		{"twice", "[daemon]\nstate_dir = \"/a\"\n[daemon]\nsocket = \"/b\"\n", true},
		{"key twice", "[daemon]\nsocket = \"/a\"\nsocket = \"/b\"\n", false},
		{"empty state_dir", "[daemon]\nstate_dir = \"\"\n", false},
		{"unterminated", "[daemon]\nstate_dir = \"/a\n", false},
		{"a line over 64 KiB", "[worker.a]\ncommand = [\"" + strings.Repeat("x", 70<<10) + "\"]\n[daemon]\nstate_dir = \"/s\"\n", false},
		{"bom", "\xef\xbb\xbf[daemon]\nstate_dir = \"/bom\"\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if answered := checkAgainstOracle(t, c.data); answered != c.answer {
				p, _ := Fast("/etc/tend/tend.toml", strings.NewReader(c.data))
				t.Fatalf("Fast answered %v (%+v), want %v", answered, p, c.answer)
			}
		})
	}
}

// Whatever the file, when Fast answers it answers as a TOML decoder of
// the whole file does. The files are made of the shapes that could fool a
// reader of lines: headers of every spelling, the two keys quoted and not,
// strings with escapes, multi-line strings and arrays holding lines that
// look like headers and keys, comments, CRLF.
func TestFastAgreesWithADecoder(t *testing.T) {
	answered, handed := 0, 0
	str := rapid.SampledFrom([]string{`"/s"`, `'/lit'`, `"rel/dir"`, `"/a\"b"`, `"/u\u0041"`, `""`, `"""/ml"""`,
		`'''/mll'''`, `"/x" # c`, `"/h#h"`, `'a"b'`, `42`, `["/arr"]`})
	other := rapid.SampledFrom([]string{`1`, `"x]"`, `'y['`, `["a", "]", "#"]`, "[\n\"[daemon]\",\n]", `{ a = "}" }`,
		"\"\"\"\n[daemon]\nsocket = \"/evil\"\n\"\"\"", "'''\n[worker.b]\n'''", `"""a\"""b"""`, `true`, `"# not a comment"`,
		"[ # c\n1,\n]"})
	header := rapid.SampledFrom([]string{"[daemon]", "[ daemon ]", `["daemon"]`, `['daemon']`, "[daemon.sub]",
		"[worker.a]", "[worker.daemon]", `[worker."a.b"]`, "[[daemon]]", "[[jobs]]", "[daemon] # d", "[daemonx]"})
	key := rapid.SampledFrom([]string{"state_dir", "socket", `"state_dir"`, `'socket'`, "log_level", "daemon",
		"daemon.socket", "state_dir.x", "other", `"a.b"`})
	rapid.Check(t, func(t *rapid.T) {
		var b strings.Builder
		nl := "\n"
		if rapid.Bool().Draw(t, "crlf") {
			nl = "\r\n"
		}
		for i, n := 0, rapid.IntRange(1, 12).Draw(t, "lines"); i < n; i++ {
			switch rapid.IntRange(0, 4).Draw(t, "kind") {
			case 0:
				b.WriteString(header.Draw(t, "header"))
			case 1:
				b.WriteString(key.Draw(t, "key") + " = " + str.Draw(t, "str"))
			case 2:
				b.WriteString(key.Draw(t, "key") + " = " + other.Draw(t, "other"))
			case 3:
				b.WriteString("# a comment [daemon]")
			case 4:
				b.WriteString("")
			}
			b.WriteString(nl)
		}
		if checkAgainstOracle(t, b.String()) {
			answered++
		} else {
			handed++
		}
	})
	// A test of agreement where Fast never answers would hold nothing.
	if answered == 0 || handed == 0 {
		t.Fatalf("Fast answered %d files and handed over %d: the generator reaches only one side", answered, handed)
	}
	t.Logf("Fast answered %d files and handed over %d", answered, handed)
}

// failAfter gives its reader's bytes, then an error: a file Fast must not
// read past.
type failAfter struct{ r io.Reader }

func (f failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("read past the [daemon] table")
	}
	return n, err
}

// Fast reads up to the end of the [daemon] table and no further: a client
// of a config of 10,000 workers with [daemon] at the top reads one block,
// not 800 KB.
func TestFastStopsAtTheEndOfTheTable(t *testing.T) {
	head := "# tend\n[daemon]\nstate_dir = \"/srv/tend\"\n\n[worker.a]\n"
	p, ok := Fast("/etc/tend/tend.toml", failAfter{strings.NewReader(head)})
	if !ok || p.Socket != "/srv/tend/tend.sock" {
		t.Fatalf("Fast = %+v, %v: it read past the end of [daemon]", p, ok)
	}
	// Without a [daemon] table, only the whole file can say so.
	if p, ok := Fast("/etc/tend/tend.toml", failAfter{strings.NewReader("[worker.a]\n")}); ok {
		t.Fatalf("Fast = %+v without reading the whole file", p)
	}
}

// countReads counts what a reader was asked for and what it gave.
type countReads struct {
	r             io.Reader
	asked, served int
}

func (c *countReads) Read(b []byte) (int, error) {
	c.asked = max(c.asked, len(b))
	n, err := c.r.Read(b)
	c.served += n
	return n, err
}

// Of a config of 10,000 workers with [daemon] at the top, the client
// reads one page: a read of the whole 64 KiB buffer would have the kernel
// copy, and the client fault in, fifteen pages it never looks at. Lines
// longer than a page are still read whole, up to 64 KiB.
func TestFastReadsAPageAtATime(t *testing.T) {
	var b strings.Builder
	b.WriteString("[daemon]\nstate_dir = \"/srv/tend\"\n")
	for i := range 10000 {
		fmt.Fprintf(&b, "\n[worker.w%d]\ncommand = [\"sleep\", \"%d\"]\n", i, i)
	}
	c := &countReads{r: strings.NewReader(b.String())}
	if p, ok := Fast("/etc/tend/tend.toml", c); !ok || p.StateDir != "/srv/tend" {
		t.Fatalf("Fast = %+v, %v", p, ok)
	}
	if c.asked > 4096 || c.served > 4096 {
		t.Fatalf("Fast asked for %d bytes at once and read %d, for a [daemon] table of 35 bytes at the top", c.asked, c.served)
	}
	long := "[worker.a]\ncommand = [\"" + strings.Repeat("x", 60<<10) + "\"]\n[daemon]\nstate_dir = \"/s\"\n"
	if p, ok := Fast("/etc/tend/tend.toml", &countReads{r: strings.NewReader(long)}); !ok || p.StateDir != "/s" {
		t.Fatalf("Fast = %+v, %v after a line of 60 KiB", p, ok)
	}
}
