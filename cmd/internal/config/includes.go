package config

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"
)

// Drop-ins: include = ["conf.d/*.toml"] in the main file reads more files
// of [worker.NAME] tables, as if they were written in the main file. The
// daemon's own settings, and include itself, belong to the main file only:
// a drop-in adds workers, it does not reconfigure the daemon or pull in
// more files. A worker is defined in one file only.

// MaxIncludeFiles bounds how many files the include patterns may match.
const MaxIncludeFiles = 1000

// maxIncludeSize bounds one included file.
const maxIncludeSize = 64 << 20

// fileTables is one file of the configuration, decoded.
type fileTables struct {
	src  *source
	dir  string // its directory, absolute: relative paths in it start here
	root *table
}

// included is what the include key brought in.
type included struct {
	files []*fileTables
	abs   []string // their absolute paths
	dirs  []string // the directories the patterns were matched in
}

// hash is the configuration's fingerprint: the main file's bytes alone
// when it includes nothing (as before includes existed), else those and
// every included file's path and bytes, so a change in any of them is a
// change of the configuration.
func (in *included) hash(main string) string {
	h := sha256.New()
	if len(in.files) == 0 {
		_, _ = io.WriteString(h, main)
		return hex.EncodeToString(h.Sum(nil))
	}
	var n [binary.MaxVarintLen64]byte
	write := func(s string) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		_, _ = io.WriteString(h, s)
	}
	write(main)
	for i := range in.files {
		write(in.abs[i])
		write(in.files[i].src.text)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// includes reads the files the main file's include key names: each
// element a path or a glob pattern (filepath.Match syntax), relative to
// the main file's directory, its matches read in name order. A pattern
// with no glob characters must match a file; a glob may match none. A file
// matched twice is read once, and the main file itself never.
func (d *decoder) includes(root *table, path, abs string) *included {
	in := &included{}
	patterns, present := root.stringList("include")
	if !present || patterns == nil {
		return in
	}
	seen := map[string]bool{abs: true}
	for i, pat := range patterns {
		if strings.TrimSpace(pat) == "" {
			root.errorf("include", "element %d: an empty pattern", i)
			continue
		}
		shown := pat
		if !filepath.IsAbs(pat) {
			shown = filepath.Join(filepath.Dir(path), pat)
		}
		matches, err := d.glob(shown)
		if err != nil {
			root.errorf("include", "element %d: invalid pattern (use * ? and [...] as in filepath.Match)", i)
			continue
		}
		if dir, err := filepath.Abs(filepath.Dir(shown)); err == nil && !slices.Contains(in.dirs, dir) {
			in.dirs = append(in.dirs, dir)
		}
		if len(matches) == 0 && !hasMeta(pat) {
			root.errorf("include", "element %d: %s: no such file", i, shown)
			continue
		}
		for _, m := range matches { // Glob sorts them
			a, err := filepath.Abs(m)
			if err != nil || seen[a] {
				continue
			}
			seen[a] = true
			if len(in.files) == MaxIncludeFiles {
				root.errorf("include", "the patterns match more than %d files", MaxIncludeFiles)
				return in
			}
			data, err := d.readIncluded(m)
			if err != nil {
				root.errorf("include", "element %d: %v", i, err)
				continue
			}
			f := d.parseIncluded(m, a, data)
			if f == nil {
				continue
			}
			d.included = append(d.included, f.src)
			in.files = append(in.files, f)
			in.abs = append(in.abs, a)
		}
	}
	return in
}

// glob is filepath.Glob, or, when the decoder reads kept files, the same
// match over those: the files a pattern matched when they were read.
func (d *decoder) glob(pattern string) ([]string, error) {
	if d.kept == nil {
		return filepath.Glob(pattern)
	}
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range d.kept {
		if ok, _ := filepath.Match(pattern, s.file); ok {
			out = append(out, s.file)
		}
	}
	slices.Sort(out)
	return out, nil
}

// readIncluded reads an included file, from the disk or from the kept
// files.
func (d *decoder) readIncluded(name string) ([]byte, error) {
	if d.kept == nil {
		return readConfigFile(name)
	}
	for _, s := range d.kept {
		if s.file == name {
			return []byte(s.text), nil
		}
	}
	return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// parseIncluded decodes one included file; nil when it does not parse (its
// problems are recorded).
func (d *decoder) parseIncluded(shown, abs string, data []byte) *fileTables {
	d.files = append(d.files, shown)
	text := string(data)
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		var es Errors
		if errors.As(syntaxError(shown, err), &es) {
			d.errs = append(d.errs, es...)
		}
		return nil
	}
	src := newSource(shown, text, indexLines(text))
	root := newTable(d, src, nil, raw)
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if k == "worker" {
			continue
		}
		root.get(k)
		what := fmt.Sprintf("[%s]", toml.Key{k}.String())
		if _, isTable := raw[k].(map[string]any); !isTable {
			what = toml.Key{k}.String()
		}
		root.errorf(k, "an included file holds only [worker.NAME] tables; %s belongs in the main file", what)
	}
	return &fileTables{src: src, dir: filepath.Dir(abs), root: root}
}

// readConfigFile reads an included file without blocking on a FIFO or
// reading a device: the daemon reads its configuration on every reload.
func readConfigFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIncludeSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxIncludeSize {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, maxIncludeSize>>20)
	}
	return data, nil
}
