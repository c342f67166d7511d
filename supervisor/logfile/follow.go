package logfile

import (
	"context"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// From says where a reader starts in a file of the given size.
type From func(f *os.File, size int64) (int64, error)

// LastBytes starts n bytes before the end (at the start of a smaller file).
func LastBytes(n int64) From {
	return func(_ *os.File, size int64) (int64, error) { return max(size-n, 0), nil }
}

// LastLines starts where the last n lines begin; a last line without its
// newline counts as a line.
func LastLines(n int) From {
	return func(f *os.File, size int64) (int64, error) {
		if n <= 0 {
			return size, nil
		}
		buf := make([]byte, 32<<10)
		pos, lines := size, 0
		for pos > 0 {
			chunk := min(int64(len(buf)), pos)
			pos -= chunk
			if _, err := f.ReadAt(buf[:chunk], pos); err != nil && err != io.EOF {
				return 0, err
			}
			for i := chunk - 1; i >= 0; i-- {
				if buf[i] == '\n' && pos+i != size-1 {
					if lines++; lines == n {
						return pos + i + 1, nil
					}
				}
			}
		}
		return 0, nil
	}
}

// Follower reads a worker's output file as it grows, across rotations: a
// file that shrinks under it (copy-then-truncate) is read again from its
// start, and a file that another one replaces at the path is left for the
// new one, read from its start. Every open goes through OpenRead's checks.
// A Follower is used by one goroutine.
type Follower struct {
	// TruncatedMark, if set, is written before reading a file again from
	// its start because it shrank.
	TruncatedMark string

	path     string
	uid      uint32
	f        *os.File
	dev, ino uint64
	pos      int64
	buf      []byte
}

// NewFollower follows path, a file of the worker running as uid. Nothing
// is opened until Open or Poll.
func NewFollower(path string, uid uint32) *Follower {
	return &Follower{path: path, uid: uid}
}

// Open opens the file and places the reader where from says. On error the
// Follower stays usable: Poll goes on trying to open the file, and reads
// one that appears from its start.
func (fl *Follower) Open(from From) error {
	f, st, err := openRead(fl.path, fl.uid)
	if err != nil {
		return err
	}
	pos, err := from(f, st.Size)
	if err != nil {
		f.Close()
		return err
	}
	fl.set(f, st, pos)
	return nil
}

func (fl *Follower) set(f *os.File, st *unix.Stat_t, pos int64) {
	if fl.f != nil {
		fl.f.Close()
	}
	fl.f, fl.dev, fl.ino, fl.pos = f, uint64(st.Dev), uint64(st.Ino), pos
}

// Poll writes to w what the file gained since the last call and returns
// how many bytes it wrote. An error is one of reading the open file or of
// writing to w; a file that cannot be opened (yet) is not an error.
func (fl *Follower) Poll(w io.Writer) (int64, error) {
	var written int64
	if fl.f != nil && fl.replaced() {
		// Rotated by renaming (an output relay): what the old file gained
		// before it was renamed comes first.
		n, err := fl.rest(w)
		if written += n; err != nil {
			return written, err
		}
	}
	fl.reopen()
	if fl.f == nil {
		return written, nil
	}
	n, err := fl.rest(w)
	return written + n, err
}

// replaced reports whether the path now names another file than the one
// open.
func (fl *Follower) replaced() bool {
	var st unix.Stat_t
	if err := unix.Fstatat(unix.AT_FDCWD, fl.path, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false
	}
	return uint64(st.Dev) != fl.dev || uint64(st.Ino) != fl.ino
}

// rest writes what the open file gained since the last read.
func (fl *Follower) rest(w io.Writer) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fl.f.Fd()), &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: fl.path, Err: err}
	}
	var written int64
	if st.Size < fl.pos {
		fl.pos = 0
		if fl.TruncatedMark != "" {
			n, err := io.WriteString(w, fl.TruncatedMark)
			if written += int64(n); err != nil {
				return written, err
			}
		}
	}
	if fl.buf == nil {
		fl.buf = make([]byte, 32<<10)
	}
	for fl.pos < st.Size {
		n, err := fl.f.ReadAt(fl.buf[:min(int64(len(fl.buf)), st.Size-fl.pos)], fl.pos)
		if n > 0 {
			m, werr := w.Write(fl.buf[:n])
			fl.pos += int64(m)
			if written += int64(m); werr != nil {
				return written, werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// reopen switches to the file now at the path when it is another file
// than the one open. The look is a stat that may pass through links; the
// open it leads to does not.
func (fl *Follower) reopen() {
	var st unix.Stat_t
	if err := unix.Fstatat(unix.AT_FDCWD, fl.path, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return
	}
	if fl.f != nil && uint64(st.Dev) == fl.dev && uint64(st.Ino) == fl.ino {
		return
	}
	f, nst, err := openRead(fl.path, fl.uid)
	if err != nil {
		return // gone again, or refused: go on with what is open
	}
	if fl.f != nil && uint64(nst.Dev) == fl.dev && uint64(nst.Ino) == fl.ino {
		f.Close()
		return
	}
	fl.set(f, nst, 0)
}

// Follow polls every interval until ctx ends, calling flush (if not nil)
// after a poll that wrote something, and after the first. It returns
// ctx's error, or Poll's.
func (fl *Follower) Follow(ctx context.Context, every time.Duration, w io.Writer, flush func()) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for first := true; ; first = false {
		n, err := fl.Poll(w)
		if err != nil {
			return err
		}
		if (n > 0 || first) && flush != nil {
			flush()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Close closes the file open, if any.
func (fl *Follower) Close() error {
	if fl.f == nil {
		return nil
	}
	err := fl.f.Close()
	fl.f = nil
	return err
}
