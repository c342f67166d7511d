package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/tendhq/tend/supervisor/logfile"
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
	uid    uint32 // the worker's: it may own its files
	max    int64
	keep   int
}

type outFile struct {
	path    string
	f       *os.File
	lastErr string // the last rotation error reported, so a lasting one is said once
	// size is what the last check found; skip how many checks to pass over
	// before the next, and quiet how many checks in a row found it
	// unchanged (see rotate).
	size        int64
	skip, quiet int
}

// maxQuietSkip bounds how many checks a file that stopped growing is passed
// over: one in eight at most, so a quiet file is looked at every eighth
// RotateEvery.
const maxQuietSkip = 7

// workerUID is the uid the incarnation runs as.
func workerUID(spec Spec) uint32 {
	if spec.Credential != nil {
		return spec.Credential.Uid
	}
	return uint32(os.Geteuid())
}

// openOutputs opens the files for spec; null is the Spawner's /dev/null.
// On error nothing stays open.
func openOutputs(spec Spec, null *os.File) (*outputs, error) {
	o := &outputs{max: spec.LogMaxSize, keep: spec.LogBackups, null: null, uid: workerUID(spec)}
	if spec.Output != nil {
		o.stdout, o.stderr = spec.Output, spec.Output
		return o, nil
	}
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

// open opens one output file for appending, creating it and its
// directories when missing, through logfile: no link or FIFO a worker
// planted at the name, or on the way to it, is followed.
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
	f, err := logfile.OpenAppend(path, o.uid)
	if err != nil {
		return nil, err
	}
	o.files = append(o.files, outFile{path: path, f: f})
	return f, nil
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
		f, err := logfile.OpenAppend(filepath.Clean(path), workerUID(spec))
		if err != nil {
			errs = append(errs, fmt.Errorf("proc: prepare output of %q: %w", spec.Worker, err))
			continue
		}
		_ = f.Close()
	}
	return errors.Join(errs...)
}

// detach closes the daemon's descriptors once the child has its own, and
// keeps the paths for rotation, if it rotates. It lets go of the closed
// files too: they would be kept, a few hundred bytes a worker, for as
// long as the incarnation runs.
func (o *outputs) detach() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.files {
		if o.files[i].f != nil {
			_ = o.files[i].f.Close()
			o.files[i].f = nil
		}
	}
	o.null, o.stdout, o.stderr = nil, nil, nil
	if o.max <= 0 {
		o.files = nil // never rotated: rotate looks at none
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
// paths already handled in this sweep, so a file shared by several
// incarnations or workers is looked at once. An error is returned once,
// not on every sweep while it lasts: a worker that keeps a link planted at
// its file's name must not fill the daemon's log.
func (o *outputs) rotate(seen map[string]bool) error {
	if o.max <= 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	var errs []error
	for i := range o.files {
		of := &o.files[i]
		// Most workers write little or nothing: a file found the same
		// size twice in a row is looked at half as often each time, up to
		// one check in eight, and at every check again once it grows. At
		// ten thousand workers this makes the checks cost a tenth of a
		// stat of every file every second. A skipped file is not marked
		// seen: another holder of the same path may look at it this pass.
		if of.skip > 0 {
			of.skip--
			continue
		}
		if seen[of.path] {
			continue
		}
		seen[of.path] = true
		rotated, size, err := logfile.RotateSized(of.path, o.uid, o.max, o.keep)
		if !rotated && err == nil && size == of.size {
			of.quiet++
			of.skip = min(1<<min(of.quiet, 3)-1, maxQuietSkip)
		} else {
			of.quiet = 0
		}
		of.size = size
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != of.lastErr && err != nil {
			errs = append(errs, fmt.Errorf("proc: rotate: %w", err))
		}
		of.lastErr = msg
	}
	return errors.Join(errs...)
}
