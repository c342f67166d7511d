package config

import (
	"fmt"
	"maps"
	"time"

	"github.com/tendhq/tend/supervisor/envfile"
)

// Settled is a configuration in force as a daemon keeps it between loads:
// the files' text, not their decoding. A Config holds, for every worker,
// its settings (a Worker) and the line of each key; the daemon needs them
// again only at its next reload (which keys of a changed worker changed)
// or scale (new instances, and the whole validated again), and in between
// they would cost it about a kilobyte a worker. Config makes them again.
//
// What was read besides the files is kept as it was read: what each env
// file set, so that a worker's settings and hash come back as they were
// loaded, not as the files are now. The instances a scale made are kept as
// counts.
type Settled struct {
	Path      string // as Config.Path
	Hash      string // as Config.Hash
	Daemon    Daemon
	Export    Export
	Notify    []*Notify
	Templates map[string]*Template
	// LongestStop is the longest a worker may take to stop: its
	// stop_timeout, and its post_stop hook's hook_timeout when it has one.
	LongestStop time.Duration

	file     string // the main file, as named to Load
	text     string // its contents
	included []*source
	// counts are the instances in force of each worker with instances.
	counts  map[string]int
	sums    map[string][]string // Worker.EnvFileSums, of the workers with env files
	envVars map[string][]envfile.Var
}

// Settle is c as a daemon keeps it in force.
func (c *Config) Settle() *Settled {
	s := &Settled{Path: c.Path, Hash: c.Hash, Daemon: c.Daemon, Export: c.Export, Notify: c.Notify,
		Templates: c.Templates, file: c.src.main.file, text: c.src.main.text, included: c.src.included,
		envVars: c.envVars, counts: map[string]int{}}
	for _, inc := range s.included {
		inc.dropLines()
	}
	for _, tp := range c.Templates {
		tp.src.dropLines()
	}
	for _, w := range c.Workers {
		stop := w.StopTimeout
		if w.Hooks.PostStop != nil {
			stop += w.HookTimeout // its post_stop runs after its end
		}
		s.LongestStop = max(s.LongestStop, stop)
		if w.EnvFileSums != nil {
			if s.sums == nil {
				s.sums = map[string][]string{}
			}
			s.sums[w.Name] = w.EnvFileSums
		}
		if w.InstanceOf != "" {
			s.counts[w.InstanceOf] = max(s.counts[w.InstanceOf], w.Instance)
		}
	}
	for name := range c.Templates {
		if _, ok := s.counts[name]; !ok {
			s.counts[name] = 0
		}
	}
	return s
}

// Config is the configuration s was settled from, decoded again from the
// text it kept: its workers' settings and hashes are those it had, and a
// problem found in it names the file and line it came from. Nothing is
// read from disk. It is an error only if the kept text no longer decodes
// as it did, which would be a bug.
func (s *Settled) Config() (*Config, error) {
	c, err := parse(s.file, s.text, s.included)
	if err != nil {
		return nil, fmt.Errorf("config: the configuration in force does not decode again: %w", err)
	}
	counts := map[string]int{}
	for name, n := range s.counts {
		if tp := c.Templates[name]; tp != nil && tp.Instances != n {
			counts[name] = n
		}
	}
	if len(counts) > 0 {
		if c, _, err = c.expand(counts); err != nil {
			return nil, fmt.Errorf("config: the instances in force do not decode again: %w", err)
		}
	}
	c.envVars = maps.Clone(s.envVars)
	var h workerHasher
	for name, sums := range s.sums {
		if w := c.Workers[name]; w != nil {
			w.EnvFileSums = sums
			w.Hash = h.sum(w)
		}
	}
	return c, nil
}
