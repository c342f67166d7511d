package config

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"pgregory.net/rapid"
)

func FuzzParse(f *testing.F) {
	full, err := os.ReadFile("testdata/full.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	for _, s := range []string{
		"",
		okWorker,
		"[daemon]\nstate_dir = \"rel\"\nsocket = \"\"\n",
		"[worker.a]\ncommand = [\"/x\"]\nlimits = { memory = \"1.5GiB\", cpu = 1e308 }\n",
		"[worker.a]\ncommand = [\"/x\"]\n[worker.a.health]\ntype = \"tcp\"\naddress = \":1\"\n",
		"[[worker.a]]\ncommand = 1\n",
		"worker = 1\ndaemon = []\n",
		"[worker.\"a\\u0062\"]\ncommand = ['''\n''']\nenv = {\"\" = \"x\", \"A=B\" = \"y\"}\n",
		"[worker.a]\ncommand=[\"/x\"]\nstop_signal=-1\nlog_max_size=-5\nbackoff_max=\"1d\"\nbackoff_initial=\"2d\"\n",
		"a = \"\"\"\n[worker.x]\n\"\"\"\n",
		"[daemon]\nlog_level = \"hunter2-secret\"\nmetrics_listen = \"hunter2:secret\"\nsample_interval = \"hunter2s\"\n",
		"[worker.a]\ncommand = \"hunter2-secret\"\nrestart = \"hunter2-secret\"\nstop_signal = \"hunter2\"\nautostart = \"hunter2\"\n",
		"[worker.a]\ncommand = [\"/x\"]\nstdout = \"\"\nlimits = { memory = \"hunter2GiB\" }\nhealth = { type = \"http\", url = \"http://u:hunter2@\" }\n",
		"[worker]\na = \"hunter2-secret\"\n",
		"[worker.a]\ncommand = [\"/x\"]\nhealth = { type = \"tcp\", address = \"hunter2-secret\", url = \"hunter2\" }\n",
		"[worker.a]\ncommand = [\"/x\"]\nhealth = { type = \"exec\", command = [\"\"], interval = \"0s\", timeout = \"0s\" }\n",
		"[worker.a]\ncommand = [\"/x\"]\nbackoff_initial = \"2m\"\ncircuit_window = \"0s\"\nlimits = { cpu = 5, cpu_policy = \"hunter2\" }\n",
	} {
		f.Add([]byte(s))
	}
	vocabulary := messageVocabulary(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("tend.toml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
			}
			values, keys := stringValues(data)
			for i, e := range es {
				if e == nil || e.Msg == "" || e.File != "tend.toml" || e.Line < 0 {
					t.Fatalf("malformed error %d: %+v", i, e)
				}
				if i > 0 && es[i-1].Line > e.Line {
					t.Fatalf("errors not sorted by line: %v", err)
				}
				if v := echoedValue(e.Msg, values, keys, vocabulary); v != "" {
					t.Fatalf("error %q repeats the value %q of the file", e.Error(), v)
				}
			}
			return
		}
		if len(c.Order) != len(c.Workers) || !slices.IsSorted(c.Order) {
			t.Fatalf("Order %v does not match Workers", c.Order)
		}
		for _, name := range c.Order {
			w := c.Workers[name]
			if w == nil || w.Name != name || len(w.Hash) != 64 || len(w.Command) == 0 || w.Command[0] == "" {
				t.Fatalf("bad worker %q: %+v", name, w)
			}
			if err := w.Policy.Validate(); err != nil || w.StopSignal < 1 || w.LogMaxSize < 0 {
				t.Fatalf("invariant broken for %q: %+v", name, w)
			}
			if h := w.Health; h != nil && h.Validate() != nil {
				t.Fatalf("invariant broken for %q health: %+v", name, h)
			}
			if w.LogBackups > MaxLogBackups || w.LogMaxSize > MaxLogMaxSize || w.StopTimeout > MaxStopTimeout ||
				w.Policy.BackoffMax > MaxBackoff || w.Policy.BreakerMax > MaxCircuitRestarts || w.Policy.BreakerWindow > MaxCircuitWindow {
				t.Fatalf("a setting of %q is past its bound: %+v", name, w)
			}
			if l := w.Limits; l != nil && (l.Validate() != nil || l.CPU > MaxCPUPercent || l.Memory > MaxMemoryLimit || l.Sustained > MaxSustained) {
				t.Fatalf("a limit of %q is past its bound: %+v", name, l)
			}
		}
		again, err := Parse("tend.toml", data)
		if err != nil {
			t.Fatalf("second parse failed: %v", err)
		}
		if a, r, ch := Diff(c, again); len(a)+len(r)+len(ch) != 0 {
			t.Fatalf("parsing the same bytes twice differs: %v %v %v", a, r, ch)
		}
	})
}

// Whatever Go prints for a duration, tend must read back as the same value.
func TestParseDurationReadsGoFormat(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := time.Duration(rapid.Int64().Draw(t, "d"))
		got, err := ParseDuration(d.String())
		if err != nil || got != d {
			t.Fatalf("ParseDuration(%q) = %v, %v", d.String(), got, err)
		}
	})
}

// messageVocabulary is every string literal of the package's own code and
// of the packages whose Validate words some of its messages: the words its
// messages are made of. A value of the file that happens to be one of them
// (or part of one) is not an echo.
func messageVocabulary(f testing.TB) []string {
	var names []string
	for _, dir := range []string{".", "../../../supervisor/health", "../../../supervisor/limits", "../../../fsm/policy"} {
		more, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(more) == 0 {
			f.Fatalf("%s: %v %v", dir, more, err)
		}
		names = append(names, more...)
	}
	var out []string
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			f.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					out = append(out, s)
				}
			}
			return true
		})
	}
	return out
}

// stringValues decodes data as plain TOML and returns every string value
// in it, and every key (each path element), or nothing when it does not
// decode.
func stringValues(data []byte) (values, keys []string) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, nil
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			values = append(values, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case []map[string]any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				keys = append(keys, k)
				walk(e)
			}
		}
	}
	walk(raw)
	return values, keys
}

// echoedValue returns a value longer than a few characters that msg
// repeats, or "". A value that is part of a key (messages name keys), of
// the package's own words, or is all digits (messages state limits) does
// not count.
func echoedValue(msg string, values, keys, vocabulary []string) string {
	for _, v := range values {
		if len(v) < 5 || !strings.Contains(msg, v) || strings.Trim(v, "0123456789") == "" {
			continue
		}
		ours := false
		for _, w := range slices.Concat(keys, vocabulary) {
			if strings.Contains(w, v) {
				ours = true
				break
			}
		}
		if !ours {
			return v
		}
	}
	return ""
}
