package importer

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Warning is one thing in the source that tend cannot express, or
// expresses differently, with where it was written.
type Warning struct {
	File string
	Line int
	Msg  string
}

// String renders "file:line: msg", the form editors jump to.
func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg)
	}
	return fmt.Sprintf("%s: %s", w.File, w.Msg)
}

// Limits that keep a hostile or broken configuration from making the
// conversion run away; real configurations are far below them.
const (
	maxIncludeDepth = 16
	maxFiles        = 1000
	maxFileSize     = 16 << 20
	maxNumprocs     = 1000
	maxRestarts     = 100
)

// Convert reads the supervisord configuration at path, with every file it
// includes, and returns the equivalent tend configuration. Problems that
// make supervisord refuse the file (syntax errors, unreadable files) are
// returned as an error naming the file and line; everything that converts
// only partly is a Warning, in source order.
func Convert(path string) ([]byte, []Warning, error) { return ConvertWith(path, Options{}) }

// Options change how Convert writes what it converts.
type Options struct {
	// Instances writes a program with numprocs > 1 as one worker with
	// instances = N (workers NAME@1 … NAME@N, tend scale works on them)
	// wherever its processes differ only by their number, which the
	// conversion writes as {instance}. Its processes are then named
	// NAME@1 …, not by process_name: supervisorctl shows pool:pool@1,
	// not pool:pool_00. Without it, each process is a worker of its own,
	// named as supervisord names it.
	Instances bool
}

// ConvertWith is Convert with options.
func ConvertWith(path string, opts Options) ([]byte, []Warning, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	c := &converter{
		in:      newINI(),
		env:     os.Environ(),
		host:    host,
		display: map[string]string{},
		opts:    opts,
	}
	c.display[abs] = path
	if err := c.load(abs, nil); err != nil {
		c.sortWarnings()
		return nil, c.warnings, err
	}
	out, err := c.convert(abs)
	if err != nil {
		c.sortWarnings()
		return nil, c.warnings, err
	}
	c.sortWarnings()
	return out, c.warnings, nil
}

type converter struct {
	opts     Options
	in       *ini
	env      []string
	host     string
	files    int
	read     []string          // files in the order they were read
	display  map[string]string // absolute path -> name used in messages
	warnings []Warning
}

func (c *converter) name(file string) string {
	if d, ok := c.display[file]; ok {
		return d
	}
	return file
}

func (c *converter) warn(file string, line int, format string, args ...any) {
	c.warnings = append(c.warnings, Warning{File: c.name(file), Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (c *converter) warnOpt(o *option, format string, args ...any) {
	c.warn(o.file, o.line, format, args...)
}

// sortWarnings orders warnings by file, in the order the files were read,
// then by line, and drops repeats (a program with numprocs > 1 reports
// each problem once, not once per process).
func (c *converter) sortWarnings() {
	rank := map[string]int{}
	for i, f := range c.read {
		if _, ok := rank[c.name(f)]; !ok {
			rank[c.name(f)] = i
		}
	}
	ws := c.warnings
	sort.SliceStable(ws, func(i, j int) bool {
		if ri, rj := rank[ws[i].File], rank[ws[j].File]; ri != rj {
			return ri < rj
		}
		return ws[i].Line < ws[j].Line
	})
	out := ws[:0]
	seen := map[Warning]bool{}
	for _, w := range ws {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	c.warnings = out
}

// baseVars are the expansions every option may use.
func (c *converter) baseVars(here string) map[string]any {
	v := map[string]any{"here": here, "host_node_name": c.host}
	for _, kv := range c.env {
		if k, val, ok := strings.Cut(kv, "="); ok {
			v["ENV_"+k] = val
		}
	}
	return v
}

// load parses file and, depth first, the files its [include] names. stack
// holds the files being included, to refuse cycles.
func (c *converter) load(file string, stack []string) error {
	c.files++
	c.read = append(c.read, file)
	if c.files > maxFiles {
		return fmt.Errorf("%s: more than %d files included", c.name(file), maxFiles)
	}
	data, err := readLimited(file)
	if err != nil {
		return err
	}
	own := newINI()
	if err := own.parse(c.name(file), data); err != nil {
		return err
	}
	// Merge into the whole, as configparser merges a file read later
	// into the sections it already has.
	for _, name := range own.order {
		s := own.sections[name]
		for _, o := range s.ordered() {
			o.file = file
		}
		if name == "include" {
			continue
		}
		t, ok := c.in.sections[name]
		if !ok {
			t = &section{name: name, file: file, line: s.line, opts: map[string]*option{}}
			c.in.sections[name] = t
			c.in.order = append(c.in.order, name)
		}
		for _, o := range s.ordered() {
			if old, ok := t.opts[o.key]; ok {
				o.order = old.order
			} else {
				o.order = t.n
				t.n++
			}
			t.opts[o.key] = o
		}
	}
	inc, ok := own.sections["include"]
	if !ok {
		return nil
	}
	if len(stack) > 0 {
		c.warn(file, inc.line, "[include] inside an included file: supervisord ignores it, tend import follows it")
	}
	for _, o := range inc.ordered() {
		if o.key != "files" {
			c.warnOpt(o, "[include] key %q is not supervisord's: skipped", o.key)
		}
	}
	fo, ok := inc.get("files")
	if !ok {
		return &parseError{c.name(file), inc.line, "[include] has no files setting"}
	}
	dir := filepath.Dir(file)
	pats, err := expand(fo.value, c.baseVars(dir))
	if err != nil {
		return &parseError{c.name(file), fo.line, "[include] files: " + err.Error()}
	}
	stack = append(stack, file)
	if len(stack) > maxIncludeDepth {
		return &parseError{c.name(file), fo.line, fmt.Sprintf("includes nest more than %d deep", maxIncludeDepth)}
	}
	for _, pat := range strings.Fields(pats) {
		if !filepath.IsAbs(pat) {
			pat = filepath.Join(dir, pat)
		}
		matches, err := filepath.Glob(pat)
		if err != nil {
			c.warnOpt(fo, "include pattern %q: %v: skipped", pat, err)
			continue
		}
		matches = dropHidden(pat, matches)
		if len(matches) == 0 {
			c.warnOpt(fo, "no file matches include %q", pat)
			continue
		}
		sort.Strings(matches)
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && st.IsDir() {
				continue
			}
			if cyc := cycle(stack, m); cyc != "" {
				c.warnOpt(fo, "include cycle %s: skipped", cyc)
				continue
			}
			if _, ok := c.display[m]; !ok {
				// Name included files relative to how the operator
				// named the main file, so messages stay short.
				c.display[m] = m
				if rel, err := filepath.Rel(filepath.Dir(c.read[0]), m); err == nil {
					c.display[m] = filepath.Join(filepath.Dir(c.name(c.read[0])), rel)
				}
			}
			if err := c.load(m, stack); err != nil {
				return err
			}
		}
	}
	return nil
}

func readLimited(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", file, maxFileSize)
	}
	return data, nil
}

// dropHidden mimics Python's glob, whose wildcards do not match names
// starting with a dot unless the pattern's own name does.
func dropHidden(pat string, matches []string) []string {
	if strings.HasPrefix(filepath.Base(pat), ".") {
		return matches
	}
	out := matches[:0]
	for _, m := range matches {
		if !strings.HasPrefix(filepath.Base(m), ".") {
			out = append(out, m)
		}
	}
	return out
}

// cycle reports the include chain that m would close, or "".
func cycle(stack []string, m string) string {
	real := func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		return p
	}
	rm := real(m)
	for i, s := range stack {
		if real(s) == rm {
			chain := append(append([]string{}, stack[i:]...), m)
			for j := range chain {
				chain[j] = filepath.Base(chain[j])
			}
			return strings.Join(chain, " -> ")
		}
	}
	return ""
}
