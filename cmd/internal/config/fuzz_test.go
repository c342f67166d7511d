package config

import (
	"errors"
	"os"
	"slices"
	"testing"
	"time"

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
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("tend.toml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
			}
			for i, e := range es {
				if e == nil || e.Msg == "" || e.File != "tend.toml" || e.Line < 0 {
					t.Fatalf("malformed error %d: %+v", i, e)
				}
				if i > 0 && es[i-1].Line > e.Line {
					t.Fatalf("errors not sorted by line: %v", err)
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
			if w.BackoffMax < w.BackoffInitial || w.StopSignal < 1 || w.LogMaxSize < 0 {
				t.Fatalf("invariant broken for %q: %+v", name, w)
			}
			if h := w.Health; h != nil && (h.Interval <= 0 || h.Timeout <= 0 || h.Failures < 1) {
				t.Fatalf("invariant broken for %q health: %+v", name, h)
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
