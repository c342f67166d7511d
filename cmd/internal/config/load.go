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
// checks of Validate. Problems in the file come back as Errors; failing to
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
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse turns data, the contents of the file at path, into a Config. path
// is used for error messages and to resolve relative paths; it is not read.
// Every problem is returned at once, as Errors.
func Parse(path string, data []byte) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = filepath.Clean(path)
	}
	// The line index reads the text on its own and is needed only once it
	// is decoded: on a second core it is ready by then.
	lines := make(chan lineIndex, 1)
	go func() { lines <- indexLines(data) }()
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		<-lines // data is the caller's again once Parse returns
		return nil, syntaxError(path, err)
	}
	d := &decoder{file: path, lines: <-lines}
	root := newTable(d, nil, raw)
	dir := filepath.Dir(abs)

	dt := root.sub("daemon")
	if dt == nil {
		dt = newTable(d, toml.Key{"daemon"}, nil)
	}
	daemon := d.daemon(dt, dir)
	var export Export
	if et := root.sub("export"); et != nil {
		export = d.export(et, dir)
	}

	var workers map[string]*Worker
	var order []string
	if wt := root.sub("worker"); wt != nil {
		names := slices.Sorted(maps.Keys(wt.m))
		workers = make(map[string]*Worker, len(names))
		order = make([]string, 0, len(names))
		for _, name := range names {
			v, _ := wt.get(name)
			m, ok := v.(map[string]any)
			if !ok {
				wt.wrongType(name, "a table [worker."+toml.Key{name}.String()+"]", v)
				continue
			}
			nameErr := checkWorkerName(name)
			if nameErr != nil {
				wt.errorf(name, "%v", nameErr)
			}
			w := d.worker(newTable(d, wt.key(name), m), name, dir, daemon.StateDir)
			if nameErr == nil {
				workers[name] = w
				order = append(order, name)
			}
		}
		wt.finish()
	}
	var notify []*Notify
	if v, ok := root.get("notify"); ok {
		notify = d.notify(v, dir, workers)
	}
	root.finish()
	d.checkGraph(workers, order)
	d.socketPaths(daemon, workers, order)
	if err := d.errs.err(); err != nil {
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
		Path:    abs,
		Hash:    fileHash(data),
		Daemon:  daemon,
		Export:  export,
		Notify:  notify,
		Workers: workers,
		Order:   order,
		file:    path,
		lines:   d.lines,
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
