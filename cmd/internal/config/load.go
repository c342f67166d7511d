package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/BurntSushi/toml"
)

// Load reads, parses and validates the file at path, including the host
// checks of Validate, and reads the workers' env files (their content is
// part of each worker's Hash). Problems in the file come back as Errors; failing to
// read the file is a plain wrapped error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if err := c.readEnvFiles(c.Order); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse turns data, the contents of the file at path, into a Config. path
// is used for error messages and to resolve relative paths; it is not
// read, but the files its include key names are (includes.go). Every
// problem is returned at once, as Errors.
func Parse(path string, data []byte) (*Config, error) {
	return parse(path, string(data), nil)
}

// parse is Parse of text, with the included files read from kept when
// it is not nil (Settled.Config).
func parse(path, text string, kept []*source) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = filepath.Clean(path)
	}
	// The line index reads the text on its own and is needed only once it
	// is decoded: on a second core it is ready by then. Both read one
	// copy of data, which the Config keeps (source).
	lines := make(chan lineIndex, 1)
	go func() { lines <- indexLines(text) }()
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		<-lines
		return nil, syntaxError(path, err)
	}
	main := newSource(path, text, <-lines)
	d := &decoder{main: main, workers: map[string]*source{}, files: []string{path}, templates: map[string]*Template{}, kept: kept}
	root := newTable(d, main, nil, raw)
	dir := filepath.Dir(abs)

	dt := root.sub("daemon")
	if dt == nil {
		dt = newTable(d, main, toml.Key{"daemon"}, nil)
	}
	daemon := d.daemon(dt, dir)
	var export Export
	if et := root.sub("export"); et != nil {
		export = d.export(et, dir)
	}

	// Every file's [worker.NAME] tables, the main file's first, then each
	// included file's in the order read.
	files := []*fileTables{{src: main, dir: dir, root: root}}
	inc := d.includes(root, path, abs)
	files = append(files, inc.files...)
	type def struct {
		t   *fileTables
		wt  *table
		raw map[string]any
	}
	defs := map[string]def{}
	for _, f := range files {
		wt := f.root.sub("worker")
		if wt == nil {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(wt.m)) {
			v, _ := wt.get(name)
			m, ok := v.(map[string]any)
			if !ok {
				wt.wrongType(name, "a table [worker."+toml.Key{name}.String()+"]", v)
				continue
			}
			if first, dup := defs[name]; dup {
				wt.errorf(name, "worker %q is defined again; it is first defined at %s:%d", name,
					first.t.src.file, first.t.src.lines().find(toml.Key{"worker", name}))
				continue
			}
			defs[name] = def{t: f, wt: wt, raw: m}
			d.workers[name] = f.src
		}
		wt.finish()
	}
	var workers map[string]*Worker
	var order []string
	if len(defs) > 0 {
		names := slices.Sorted(maps.Keys(defs))
		workers = make(map[string]*Worker, len(names))
		order = make([]string, 0, len(names))
		for _, name := range names {
			df := defs[name]
			nameErr := checkWorkerName(name)
			if nameErr != nil {
				df.wt.errorf(name, "%v", nameErr)
			}
			if tp := d.template(df.wt, name, df.raw, df.t.src, df.t.dir); tp != nil {
				if nameErr == nil {
					d.templates[name] = tp
					for _, w := range d.expand(tp, 1, tp.Instances, daemon.StateDir) {
						workers[w.Name] = w
					}
				}
				continue
			}
			w := d.worker(newTable(d, df.t.src, df.wt.key(name), df.raw), name, df.t.dir, daemon.StateDir)
			if nameErr == nil {
				workers[name] = w
			}
		}
		order = slices.Sorted(maps.Keys(workers))
	}
	var notify []*Notify
	if v, ok := root.get("notify"); ok {
		notify = d.notify(v, dir, workers)
	}
	for _, f := range files {
		f.root.finish()
	}
	d.checkGraph(workers, order)
	d.socketPaths(daemon, workers, order)
	if err := d.err(); err != nil {
		return nil, err
	}

	if workers == nil {
		workers = map[string]*Worker{}
		order = []string{}
	}
	var h workerHasher
	for _, name := range order {
		w := workers[name]
		w.Hash = h.sum(w)
	}
	return &Config{
		Path:        abs,
		Hash:        inc.hash(text),
		Daemon:      daemon,
		Export:      export,
		Notify:      notify,
		Workers:     workers,
		Order:       order,
		Templates:   d.templates,
		Files:       inc.abs,
		IncludeDirs: inc.dirs,
		src:         d,
	}, nil
}

// syntaxError keeps the library's line number, which is the one thing an
// operator needs to find a stray quote, and its words without the text of
// the file they quote (withoutQuotes).
func syntaxError(path string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return Errors{{File: path, Line: pe.Position.Line, Msg: "syntax error: " + withoutQuotes(pe.Message)}}
	}
	return Errors{{File: path, Msg: "syntax error: " + withoutQuotes(err.Error())}}
}
