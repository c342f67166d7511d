package config

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tendhq/tend/supervisor/core"
)

// Instances: instances = N in [worker.NAME] makes N workers, NAME@1 …
// NAME@N (core.InstanceName), each decoded from the table with {instance}
// in every string value (keys are left alone) replaced by its number, and
// {instance+K} or {instance-K} by its number plus or minus K (ports:
// "--port={instance+8080}"). Errors are reported once, at the template's
// keys and lines. The template is kept (Templates), so the daemon can make
// more instances when scaled at runtime.

// MaxInstances bounds instances = N, and a runtime scale.
const MaxInstances = 1000

// ErrNoTemplate: no worker of that name has instances.
var ErrNoTemplate = errors.New("config: no such worker with instances")

// Template is a worker with an instances key, as the file writes it.
type Template struct {
	Name      string
	Instances int // the file's count
	Line      int // of its [worker.NAME] header

	raw map[string]any
	src *source
	dir string
}

var instanceRef = regexp.MustCompile(`\{instance([+-][0-9]{1,9})?\}`)

// expandString replaces every {instance}, {instance+K} and {instance-K}
// in s.
func expandString(s string, i int) string {
	if !strings.Contains(s, "{instance") {
		return s
	}
	return instanceRef.ReplaceAllStringFunc(s, func(ref string) string {
		k := 0
		if m := instanceRef.FindStringSubmatch(ref); m[1] != "" {
			k, _ = strconv.Atoi(m[1])
		}
		return strconv.Itoa(i + k)
	})
}

// expandValue copies a TOML value with every string in it expanded.
func expandValue(v any, i int) any {
	switch v := v.(type) {
	case string:
		return expandString(v, i)
	case []any:
		out := make([]any, len(v))
		for j, e := range v {
			out[j] = expandValue(e, i)
		}
		return out
	case []map[string]any:
		out := make([]map[string]any, len(v))
		for j, e := range v {
			out[j] = expandValue(e, i).(map[string]any)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = expandValue(e, i)
		}
		return out
	}
	return v
}

// template reads a worker table's instances key; nil when it has none.
func (d *decoder) template(wt *table, name string, raw map[string]any, src *source, dir string) *Template {
	v, ok := raw["instances"]
	if !ok {
		return nil
	}
	tp := &Template{Name: name, Line: src.lines().find(toml.Key{"worker", name}), raw: raw, src: src, dir: dir}
	t := newTable(d, src, wt.key(name), raw)
	n, isInt := v.(int64)
	switch {
	case !isInt:
		t.wrongType("instances", "an integer", v)
	case n < 0 || n > MaxInstances:
		t.errorf("instances", "must be from 0 to %d", MaxInstances)
	default:
		tp.Instances = int(n)
	}
	// One output file for every instance would interleave their lines and
	// rotate under all of them at once.
	for _, key := range []string{"stdout", "stderr"} {
		if s, ok := raw[key].(string); ok && !instanceRef.MatchString(s) && s != "/dev/null" {
			t.errorf(key, `every instance would write to the same file: put {instance} in it (e.g. "/var/log/%s-{instance}.out")`, name)
		}
	}
	return tp
}

// expand decodes instances from..to of tp. Each instance's problems are
// reported at the template's keys (once: decoder.err drops repeats).
func (d *decoder) expand(tp *Template, from, to int, stateDir string) []*Worker {
	var out []*Worker
	for i := from; i <= to; i++ {
		raw := expandValue(tp.raw, i).(map[string]any)
		w := d.worker(newTable(d, tp.src, toml.Key{"worker", tp.Name}, raw), core.InstanceName(tp.Name, i), tp.dir, stateDir)
		w.InstanceOf, w.Instance = tp.Name, i
		out = append(out, w)
	}
	return out
}

// WithInstances is a copy of c in which each worker named in counts (one
// with an instances key) has that many instances instead, validated as
// Load validates: the configuration of a runtime scale. Instances c
// already has are kept as they are (their env files are not read again,
// so scaling never changes a running instance's settings); new ones are
// decoded from the template and their env files read now.
func (c *Config) WithInstances(counts map[string]int) (*Config, error) {
	n, fresh, err := c.expand(counts)
	if err != nil {
		return nil, err
	}
	if err := n.readEnvFiles(fresh); err != nil {
		return nil, err
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return n, nil
}

// expand is WithInstances before the new instances' env files are read
// and the result validated; fresh are the new instances.
func (c *Config) expand(counts map[string]int) (*Config, []string, error) {
	n := *c
	n.Workers = maps.Clone(c.Workers)
	n.envVars = maps.Clone(c.envVars)
	var fresh []string
	for _, g := range slices.Sorted(maps.Keys(counts)) {
		count := counts[g]
		tp := c.Templates[g]
		if tp == nil {
			return nil, nil, fmt.Errorf("%w: %q has no instances in the configuration", ErrNoTemplate, g)
		}
		if count < 0 || count > MaxInstances {
			return nil, nil, fmt.Errorf("%s: instances must be from 0 to %d", g, MaxInstances)
		}
		have := 0
		for name, w := range c.Workers {
			if w.InstanceOf != g {
				continue
			}
			if w.Instance > count {
				delete(n.Workers, name)
			}
			have = max(have, w.Instance)
		}
		d := &decoder{main: c.src.main, workers: c.src.workers, files: c.src.files, templates: c.src.templates}
		ws := d.expand(tp, have+1, count, c.Daemon.StateDir)
		if err := d.err(); err != nil {
			return nil, nil, err
		}
		var h workerHasher
		for _, w := range ws {
			w.Hash = h.sum(w)
			n.Workers[w.Name] = w
			fresh = append(fresh, w.Name)
		}
	}
	n.Order = slices.Sorted(maps.Keys(n.Workers))
	return &n, fresh, nil
}

// Instances lists the names of group's instances in c, by number.
func (c *Config) Instances(group string) []string {
	var out []*Worker
	for _, w := range c.Workers {
		if w.InstanceOf == group {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b *Worker) int { return a.Instance - b.Instance })
	names := make([]string, len(out))
	for i, w := range out {
		names[i] = w.Name
	}
	return names
}
