package proc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// outputs owns one incarnation's stdout/stderr files. The daemon opens
// them for the child, closes its own copies once the child runs (detach),
// and rotates them by path. close runs once, from Wait.
type outputs struct {
	mu     sync.Mutex // guards closed and the files against close during rotation
	closed bool
	files  []outFile // distinct files only: a shared stdout/stderr appears once
	null   *os.File  // /dev/null for stdin and any "" output: the Spawner's, never closed here
	stdout *os.File
	stderr *os.File
	max    int64
	keep   int
}

type outFile struct {
	path string
	f    *os.File
}

// openOutputs opens the files for spec; null is the Spawner's /dev/null.
// On error nothing stays open.
func openOutputs(spec Spec, null *os.File) (*outputs, error) {
	o := &outputs{max: spec.LogMaxSize, keep: spec.LogBackups, null: null}
	var err error
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
	f, err := openOutput(path)
	if err != nil {
		return nil, err
	}
	o.files = append(o.files, outFile{path: path, f: f})
	return f, nil
}

// openOutput opens one output file for appending, creating it and its
// directory when missing. The directory is made only after the open fails:
// on the spawn path the file usually exists, and a stat per spawn is
// wasted work.
func openOutput(path string) (*os.File, error) {
	// O_APPEND: every write lands at the current end, so two incarnations
	// (or stdout and stderr) never overwrite each other, and writers carry
	// on at offset 0 after rotation truncates the file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, err
		}
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	}
	return f, err
}

// Prepare creates spec's output files (and their directories) if they are
// missing, and does nothing else. Creating a file allocates an inode and
// takes the directory's lock, which on a fresh state directory cost more
// than the fork+exec itself; a caller that knows what it will start soon
// prepares ahead, beside the spawns, so Start only opens files that exist.
// Start creates whatever was not prepared, so calling this is never needed
// for correctness.
func Prepare(spec Spec) error {
	var errs []error
	for _, path := range []string{spec.Stdout, spec.Stderr} {
		if path == "" {
			continue
		}
		f, err := openOutput(filepath.Clean(path))
		if err != nil {
			errs = append(errs, fmt.Errorf("proc: prepare output of %q: %w", spec.Worker, err))
			continue
		}
		_ = f.Close()
	}
	return errors.Join(errs...)
}

// detach closes the daemon's descriptors once the child has its own, and
// keeps the paths for rotation.
func (o *outputs) detach() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.files {
		if o.files[i].f != nil {
			_ = o.files[i].f.Close()
			o.files[i].f = nil
		}
	}
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
		if of.f != nil {
			errs = append(errs, of.f.Close())
		}
	}
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
		f, err := os.OpenFile(of.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("proc: rotate %s: %w", of.path, err))
			}
			continue
		}
		errs = append(errs, rotateOnce(f, of.path, o.max, o.keep, seen))
		f.Close()
	}
	return errors.Join(errs...)
}

// rotateOnce rotates the open file unless this sweep already did.
func rotateOnce(f *os.File, path string, max int64, keep int, seen map[[2]uint64]bool) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("proc: rotate %s: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	key := [2]uint64{uint64(st.Dev), st.Ino}
	if seen[key] {
		return nil
	}
	seen[key] = true
	_, err = rotateFile(f, path, max, keep)
	return err
}
