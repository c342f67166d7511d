package config

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tendhq/tend/supervisor/envfile"
)

// MaxEnvFiles bounds env_file: each is read at every spawn.
const MaxEnvFiles = 64

// envFiles reads env_file: one path or a list of them, each optional when
// it starts with "-" (systemd's EnvironmentFile), relative to the
// directory of the file that names it.
func (d *decoder) envFiles(t *table, dir string) []envfile.File {
	v, ok := t.get("env_file")
	if !ok {
		return nil
	}
	var paths []string
	if s, isStr := v.(string); isStr {
		paths = []string{s}
	} else {
		var present bool
		if paths, present = t.stringList("env_file"); !present || paths == nil {
			return nil
		}
	}
	if len(paths) > MaxEnvFiles {
		t.errorf("env_file", "at most %d files", MaxEnvFiles)
		return nil
	}
	out := make([]envfile.File, 0, len(paths))
	for i, p := range paths {
		f := envfile.File{}
		p, f.Optional = strings.CutPrefix(p, "-")
		if strings.TrimSpace(p) == "" || strings.ContainsRune(p, 0) {
			t.errorf("env_file", "element %d: an empty path (write \"/etc/app/env\", or \"-/etc/app/env\" for a file that may be missing)", i)
			continue
		}
		f.Path = resolve(dir, p)
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// readEnvFiles reads every worker's env files as the daemon will at its
// spawns, so that a file that is missing (and not optional), unreadable or
// not in EnvironmentFile syntax is refused at its worker's env_file key,
// now rather than as a spawn failure later. What each file sets is
// fingerprinted into the worker's hash: a reload after a file changed
// restarts its workers. Each file is read once however many workers name
// it.
func (c *Config) readEnvFiles(names []string) error {
	type read struct {
		vars    []envfile.Var
		present bool
		err     error
	}
	seen := map[string]read{}
	var errs Errors
	var h workerHasher
	for _, name := range names {
		w := c.Workers[name]
		if len(w.EnvFiles) == 0 {
			continue
		}
		sums := make([]string, len(w.EnvFiles))
		bad := false
		for i, f := range w.EnvFiles {
			r, ok := seen[f.Path]
			if !ok {
				var data []byte
				data, r.err = envfile.Read(f.Path)
				if r.err == nil {
					r.vars, r.err = envfile.Parse(f.Path, data)
					r.present = r.err == nil
				}
				seen[f.Path] = r
			}
			if r.err != nil {
				if f.Optional && !r.present && errors.Is(r.err, fs.ErrNotExist) {
					sums[i] = envfile.Sum(nil, false)
					continue
				}
				bad = true
				for _, msg := range envFileProblems(r.err) {
					errs = append(errs, c.errorAt(toml.Key{"worker", w.TableName(), "env_file"}, w.Line, msg, r.err))
				}
				continue
			}
			sums[i] = envfile.Sum(r.vars, true)
			if c.envVars == nil {
				c.envVars = map[string][]envfile.Var{}
			}
			c.envVars[f.Path] = r.vars
		}
		if bad {
			continue
		}
		w.EnvFileSums = sums
		w.Hash = h.sum(w)
	}
	return errs.err(c.src.files...)
}

// envFileProblems words what is wrong with an env file, one message per
// problem, each naming the file (and the line) but never a value.
func envFileProblems(err error) []string {
	var es envfile.Errors
	if errors.As(err, &es) {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = "env file " + e.Error()
		}
		return out
	}
	var e *envfile.Error
	if errors.As(err, &e) {
		msg := "env file " + e.Error()
		if errors.Is(err, fs.ErrNotExist) {
			msg += ` (write "-` + e.Path + `" for a file that may be missing)`
		}
		return []string{msg}
	}
	return []string{fmt.Sprintf("env file: %v", err)}
}

// workerEnvFromFiles is the worker's env as its spawn will build it from
// env and the env files read by Load, for the exec size check.
func (c *Config) workerEnvFromFiles(w *Worker) map[string]string {
	if len(w.EnvFiles) == 0 || c.envVars == nil {
		return w.Env
	}
	out := make(map[string]string, len(w.Env))
	for k, v := range w.Env {
		out[k] = v
	}
	for _, f := range w.EnvFiles {
		for _, v := range c.envVars[f.Path] {
			out[v.Name] = v.Value
		}
	}
	return out
}
