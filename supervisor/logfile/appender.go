package logfile

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Appender is an output file that one writer, the output relay, appends to
// and rotates by renaming. The relay holds the worker's pipe and writes
// every line itself, so unlike Rotate's copy-then-truncate under a writer
// that is not ours, its bound is exact and nothing is lost to rotation:
// Rotate happens between two writes, and the caller rotates before a write
// that would take the file past its limit.
//
// The file's directory is held open from OpenAppender on: backups are
// renamed, created and removed relative to it, never by a path a worker
// could change; names planted among them are moved or removed, never
// followed or written through.
//
// An Appender is not safe for concurrent use, except Wait.
type Appender struct {
	path string
	name string
	dir  int // the directory holding the file, O_PATH
	f    *os.File
	size int64
	born time.Time // when the current file was created, as well as it is known
	// rotatable: a regular file (root's device or pipe is only written).
	rotatable bool

	compressing sync.WaitGroup // a backup being compressed
	compressErr error          // the last compression's error, reported by the next Rotate
	mu          sync.Mutex     // guards compressErr
}

// OpenAppender opens (creating it and its directories if missing) the
// worker output file at path for appending, as OpenAppend judges it: uid
// is the worker's.
func OpenAppender(path string, uid uint32) (*Appender, error) {
	p, err := walk(path, true)
	if err != nil {
		return nil, err
	}
	fd, err := p.open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT, fileMode)
	if err != nil {
		p.close()
		return nil, err
	}
	var st unix.Stat_t
	if _, err := check(fd, path, uid, forAppend, p.trusted, &st); err != nil {
		unix.Close(fd)
		p.close()
		return nil, err
	}
	f, err := finish(fd, path, unix.O_APPEND)
	if err != nil {
		p.close()
		return nil, err
	}
	a := &Appender{path: path, name: p.name, dir: p.dir, f: f, size: st.Size,
		rotatable: st.Mode&unix.S_IFMT == unix.S_IFREG, born: birth(fd)}
	return a, nil
}

// birth is when the file open as fd was created (statx's btime), or now
// when the file system does not say.
func birth(fd int) time.Time {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_BTIME, &stx); err == nil && stx.Mask&unix.STATX_BTIME != 0 {
		return time.Unix(stx.Btime.Sec, int64(stx.Btime.Nsec))
	}
	return time.Now()
}

// Size is the current file's size as this Appender knows it.
func (a *Appender) Size() int64 { return a.size }

// Born is when the current file was created.
func (a *Appender) Born() time.Time { return a.born }

// Rotatable reports whether the output is a regular file, which Rotate can
// rotate; root's device or pipe is only written to.
func (a *Appender) Rotatable() bool { return a.rotatable }

// Write writes b in one write(2): whole lines stay whole for any reader.
func (a *Appender) Write(b []byte) (int, error) {
	n, err := a.f.Write(b)
	a.size += int64(n)
	return n, err
}

// Rotate makes the current file path.1 (path.1.gz once compressed, when
// compress is set), moves the older backups up, those past backups being
// removed, and starts a new, empty file at path. With backups 0 the
// current file is removed. A compression still running from the last
// rotation is waited for first, and its error is returned.
func (a *Appender) Rotate(backups int, compress bool) error {
	if !a.rotatable {
		return nil
	}
	a.compressing.Wait()
	a.mu.Lock()
	errs := []error{a.compressErr}
	a.compressErr = nil
	a.mu.Unlock()
	for i := backups; i >= 1; i-- {
		for _, ext := range []string{"", ".gz"} {
			from := backupName(a.name, i) + ext
			var err error
			if i == backups {
				err = unix.Unlinkat(a.dir, from, 0)
			} else {
				err = unix.Renameat(a.dir, from, a.dir, backupName(a.name, i+1)+ext)
			}
			if err != nil && err != unix.ENOENT {
				errs = append(errs, &os.PathError{Op: "rotate", Path: backupName(a.path, i) + ext, Err: err})
			}
		}
	}
	var err error
	if backups > 0 {
		err = unix.Renameat(a.dir, a.name, a.dir, backupName(a.name, 1))
	} else {
		err = unix.Unlinkat(a.dir, a.name, 0)
	}
	if err != nil && err != unix.ENOENT {
		// The file stays as it is: better a file past its bound than
		// lines lost.
		return errors.Join(append(errs, &os.PathError{Op: "rotate", Path: a.path, Err: err})...)
	}
	f, err := a.create()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	_ = a.f.Close()
	a.f, a.size, a.born = f, 0, time.Now()
	if backups > 0 && compress {
		a.compressing.Add(1)
		go func() {
			defer a.compressing.Done()
			if err := a.compress(backupName(a.name, 1)); err != nil {
				a.mu.Lock()
				a.compressErr = err
				a.mu.Unlock()
			}
		}()
	}
	return errors.Join(errs...)
}

// create makes a new file at the name, removing whatever was planted there
// since the rename.
func (a *Appender) create() (*os.File, error) {
	for range 2 {
		fd, err := unix.Openat(a.dir, a.name, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_EXCL|safeFlags, fileMode)
		if err == unix.EEXIST {
			if err := unix.Unlinkat(a.dir, a.name, 0); err != nil && err != unix.ENOENT {
				return nil, &os.PathError{Op: "rotate", Path: a.path, Err: err}
			}
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "rotate", Path: a.path, Err: err}
		}
		return finish(fd, a.path, unix.O_APPEND)
	}
	return nil, &os.PathError{Op: "rotate", Path: a.path, Err: unix.EEXIST}
}

// compress replaces the backup name with name.gz, through a temporary name
// unlinked first and created O_EXCL.
func (a *Appender) compress(name string) error {
	src, err := unix.Openat(a.dir, name, unix.O_RDONLY|safeFlags, 0)
	if err != nil {
		return &os.PathError{Op: "compress", Path: a.path, Err: err}
	}
	in := os.NewFile(uintptr(src), name)
	defer in.Close()
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 {
		return &UnsafeError{Path: name, Reason: "is not a regular file with one link: not compressed"}
	}
	tmp := name + ".gz.tmp"
	if err := unix.Unlinkat(a.dir, tmp, 0); err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "compress", Path: tmp, Err: err}
	}
	dst, err := unix.Openat(a.dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|safeFlags, fileMode)
	if err != nil {
		return &os.PathError{Op: "compress", Path: tmp, Err: err}
	}
	out := os.NewFile(uintptr(dst), tmp)
	zw, _ := gzip.NewWriterLevel(out, gzip.BestSpeed)
	_, err = io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(a.dir, tmp, a.dir, name+".gz")
	}
	if err != nil {
		_ = unix.Unlinkat(a.dir, tmp, 0)
		return fmt.Errorf("compress %s: %w", name, err)
	}
	if err := unix.Unlinkat(a.dir, name, 0); err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "compress", Path: name, Err: err}
	}
	return nil
}

// Close waits for a compression under way and closes the file.
func (a *Appender) Close() error {
	a.compressing.Wait()
	err := a.f.Close()
	unix.Close(a.dir)
	a.mu.Lock()
	defer a.mu.Unlock()
	return errors.Join(err, a.compressErr)
}
