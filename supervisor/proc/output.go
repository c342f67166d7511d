package proc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// outputs owns the daemon's copies of one incarnation's stdout/stderr
// files. The child has its own descriptors; the daemon keeps these so that
// rotation truncates exactly the file the worker writes to, even if the
// path was renamed meanwhile. close runs once, from Wait.
type outputs struct {
	mu     sync.Mutex // guards closed and the files against close during rotation
	closed bool
	files  []outFile // distinct files only: a shared stdout/stderr appears once
	null   *os.File  // /dev/null for stdin and any "" output
	stdout *os.File
	stderr *os.File
	max    int64
	keep   int
}

type outFile struct {
	path string
	f    *os.File
}

// openOutputs opens the files for spec. On error nothing stays open.
func openOutputs(spec Spec) (*outputs, error) {
	o := &outputs{max: spec.LogMaxSize, keep: spec.LogBackups}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	o.null = null
	o.stdout, err = o.open(spec.Stdout)
	if err == nil {
		o.stderr, err = o.open(spec.Stderr)
	}
	if err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

func (o *outputs) open(path string) (*os.File, error) {
	if path == "" {
		return o.null, nil
	}
	path = filepath.Clean(path)
	for _, of := range o.files {
		if of.path == path {
			return of.f, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	// O_APPEND: every write lands at the current end, so two incarnations
	// (or stdout and stderr) never overwrite each other, and writers carry
	// on at offset 0 after rotation truncates the file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	o.files = append(o.files, outFile{path: path, f: f})
	return f, nil
}

// close releases the daemon's descriptors; later calls do nothing.
func (o *outputs) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	var errs []error
	for _, of := range o.files {
		errs = append(errs, of.f.Close())
	}
	errs = append(errs, o.null.Close())
	o.files = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("proc: close output: %w", err)
	}
	return nil
}

// rotate rotates every output file above the size limit. seen holds the
// (device, inode) pairs already handled in this sweep, so a file shared by
// several incarnations or workers is rotated once.
func (o *outputs) rotate(seen map[[2]uint64]bool) error {
	if o.max <= 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	var errs []error
	for _, of := range o.files {
		fi, err := of.f.Stat()
		if err != nil {
			errs = append(errs, fmt.Errorf("proc: rotate %s: %w", of.path, err))
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if seen[key] {
			continue
		}
		seen[key] = true
		if _, err := rotateFile(of.f, of.path, o.max, o.keep); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
