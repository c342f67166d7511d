package config

import (
	"reflect"
	"slices"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
)

// Every field of the specs config decodes into names its key with a toml
// tag, and the decoder reads that key: a field added to a spec without its
// key here would be a setting no file can set, and its field errors would
// have no line to point at.
func TestSpecKeysAreDecoded(t *testing.T) {
	d := &decoder{main: &source{file: "tend.toml"}}
	asked := func(decode func(*table)) []string {
		tb := newTable(d, d.main, toml.Key{"worker", "w"}, map[string]any{})
		decode(tb)
		return tb.asked
	}
	cases := []struct {
		spec  any
		asked []string
	}{
		{policy.Spec{}, asked(func(tb *table) { d.worker(tb, "w", "/", "/state") })},
		{health.Spec{}, asked(func(tb *table) { d.health(tb) })},
		{limits.Spec{}, asked(func(tb *table) { d.limits(tb) })},
	}
	for _, c := range cases {
		typ := reflect.TypeOf(c.spec)
		for i := range typ.NumField() {
			f := typ.Field(i)
			key, ok := f.Tag.Lookup("toml")
			switch {
			case !ok || key == "":
				t.Errorf("%s.%s has no toml tag", typ, f.Name)
			case key == "-":
				// no key yet (policy.Spec.StableAfter)
			case !slices.Contains(c.asked, key):
				t.Errorf("%s.%s: key %q is not decoded", typ, f.Name, key)
			}
		}
	}
}

// A field error on a field the file cannot set still reaches the operator,
// in the spec's own words, at the table.
func TestSpecErrorWithoutKey(t *testing.T) {
	d := &decoder{main: &source{file: "tend.toml", ix: lineIndex{`worker.w`: {line: 7, explicit: true}}}}
	tb := newTable(d, d.main, toml.Key{"worker", "w"}, map[string]any{})
	fe := &policy.FieldError{Field: "StableAfter", Reason: "must not be negative"}
	tb.specErrors(&policy.Spec{}, fe)
	if len(d.errs) != 1 || d.errs[0].Error() != "tend.toml:7: worker.w: policy: StableAfter: must not be negative" || d.errs[0].Err != fe {
		t.Errorf("got %v", d.errs)
	}
}

// The worker hash of an unchanged file stays the same from one version to
// the next: a daemon started on a new version would otherwise record every
// worker as changed. These were computed by the version whose Worker still
// held the restart policy field by field. If the encoding must change,
// change them on purpose.
func TestWorkerHashIsStable(t *testing.T) {
	for src, want := range map[string]string{
		okWorker: "71d3a9cba22f425c4e669be3f028bcf6b53bbacff8f6e0be1bcf2454f1682b9d",
		okWorker + lines(`restart = "always"`, `backoff_initial = "2s"`, `circuit_max_restarts = 9`, `circuit_window = "1h"`,
			`[worker.web.health]`, `type = "tcp"`, `address = ":80"`, `[worker.web.limits]`, `cpu = 50`): "79c28682b7df07b0464533274fcfd9d5f22fe348f89a7dfb05d91dc3910181bd",
	} {
		if got := mustParse(t, src).Workers["web"].Hash; got != want {
			t.Errorf("hash of\n%s= %s, want %s", src, got, want)
		}
	}
}
