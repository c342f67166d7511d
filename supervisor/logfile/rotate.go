package logfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Rotate rotates the worker output file at path when it holds more than
// max bytes, and reports whether it did. What the file holds is split into
// at most backups pieces of at most max bytes each, the newest data kept
// and the oldest dropped; the newest piece becomes path.1, and older
// backups move up, those pushed past path.<backups> being removed. Pieces
// begin at a line where a line begins within reach. The file is then
// truncated to zero, even when writing a backup failed, so the bound holds:
// after a rotation the files hold at most (1 + backups) × max bytes. With
// backups == 0 the file is only truncated. uid is the worker's (see
// OpenAppend).
//
// Copy-then-truncate, because the worker keeps writing through its own
// O_APPEND descriptor: its next write lands at offset 0. What it writes
// during the copy is caught up (see rotate); what it writes between the
// last look at the size and the truncate is lost.
//
// A missing file is an error wrapping fs.ErrNotExist. A file this package
// would not open (see the package doc) is an *UnsafeError and is left
// alone: truncating a hard link to another file, say, would truncate that
// file.
func Rotate(path string, uid uint32, max int64, backups int) (bool, error) {
	rotated, _, err := RotateSized(path, uid, max, backups)
	return rotated, err
}

// RotateSized is Rotate, and also says the size it found the file at (0
// when it found no regular file), so a caller can tell a file that is not
// growing.
func RotateSized(path string, uid uint32, max int64, backups int) (rotated bool, size int64, err error) {
	if max <= 0 {
		return false, 0, nil
	}
	// The size first, without opening anything: on a sweep of a thousand
	// workers nearly every file is under its limit, and this is one
	// syscall. It may pass through links; nothing is opened on its word.
	var st unix.Stat_t
	if err := unix.Fstatat(unix.AT_FDCWD, path, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false, 0, &os.PathError{Op: "rotate", Path: path, Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if st.Size <= max {
			return false, st.Size, nil
		}
	case unix.S_IFLNK: // root's link to the file, or a planted one: the walk tells
	default:
		return false, 0, nil // a device, or a FIFO no one will open
	}
	p, err := walk(path, false)
	if err != nil {
		return false, 0, err
	}
	defer p.close()
	fd, err := p.open(path, unix.O_RDWR, 0)
	if err != nil {
		return false, 0, err
	}
	defer unix.Close(fd)
	if _, err := check(fd, path, uid, forRotate, p.trusted, &st); err != nil || st.Size <= max {
		if err == errNotRotated {
			err = nil
		}
		return false, st.Size, err
	}
	return true, 0, rotate(p.dir, p.name, path, fd, st.Size, max, backups)
}

// rotate does Rotate's work on the file open as fd, of the given size,
// found as name in the directory open as dir; path is for messages.
//
// What the worker wrote while the backups were copied is not given up:
// the file's size is taken again after the copy, and when it grew the
// backups are cut again from the new size, up to catchUpRounds times.
// So the bytes lost to the truncate are only those written between that
// last look and the truncate, a few microseconds, unless the worker
// writes without pause through every round (a burst the bound is there
// to cut); the last line of a burst, written as it ends, is kept.
func rotate(dir int, name, path string, fd int, size, max int64, backups int) error {
	var errs []error
	if backups > 0 {
		shifted := 0
		for round := 1; ; round++ {
			cuts := pieces(fd, size, max, backups)
			if by := len(cuts) - 1 - shifted; by > 0 {
				// Only the backups older than this rotation move: those
				// below were written by an earlier round, and are written
				// again now.
				errs = append(errs, shift(dir, name, path, backups, shifted, by))
				shifted += by
			}
			var copyErrs []error
			for j := 1; j < len(cuts); j++ {
				if err := writeBackup(dir, name, j, fd, cuts[j], cuts[j-1]-cuts[j]); err != nil {
					copyErrs = append(copyErrs, &os.PathError{Op: "rotate", Path: backupName(path, j), Err: err})
				}
			}
			if afterCopy != nil {
				afterCopy(round)
			}
			var st unix.Stat_t
			if round == catchUpRounds || copyErrs != nil || unix.Fstat(fd, &st) != nil || st.Size <= size {
				errs = append(errs, copyErrs...)
				break
			}
			size = st.Size
		}
	}
	if err := unix.Ftruncate(fd, 0); err != nil {
		errs = append(errs, &os.PathError{Op: "truncate", Path: path, Err: err})
	}
	return errors.Join(errs...)
}

// catchUpRounds bounds how many times a rotation cuts the backups again
// for what was written while it copied.
const catchUpRounds = 4

// afterCopy, when set (by tests), runs after each round's copy, before
// the size is taken again.
var afterCopy func(round int)

// lineReach is how far back a piece's start is moved to begin a line.
const lineReach = 64 << 10

// pieces splits [size - backups×max, size) into pieces of at most max
// bytes, newest first: cuts[0] = size, and piece j is [cuts[j], cuts[j-1]).
// A cut moves forward (never making a piece longer) to just after a newline
// within lineReach, so that a backup begins with a whole line.
func pieces(fd int, size, max int64, backups int) []int64 {
	cuts := []int64{size}
	buf := make([]byte, min(lineReach, max))
	for len(cuts) <= backups && cuts[len(cuts)-1] > 0 {
		end := cuts[len(cuts)-1]
		cut := end - max
		if cut <= 0 {
			cuts = append(cuts, 0)
			break
		}
		// Begin at the first line that begins at or after the cut, if
		// one does soon enough: look from the byte before it.
		p := cut - 1
		if n, _ := unix.Pread(fd, buf[:min(int64(len(buf)), end-p)], p); n > 0 {
			if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 && p+int64(i)+1 < end {
				cut = p + int64(i) + 1
			}
		}
		cuts = append(cuts, cut)
	}
	return cuts
}

// shift moves path.i to path.(i+by) for the backups kept above path.above,
// from the oldest down, and removes those pushed past the last. Names are
// renamed, never opened, so a link planted among them is moved or removed,
// not followed.
func shift(dir int, name, path string, backups, above, by int) error {
	var errs []error
	for i := backups; i > above && by > 0; i-- {
		from := backupName(name, i)
		var err error
		if i+by > backups {
			err = unix.Unlinkat(dir, from, 0)
		} else {
			err = unix.Renameat(dir, from, dir, backupName(name, i+by))
		}
		if err != nil && err != unix.ENOENT {
			errs = append(errs, &os.PathError{Op: "rotate", Path: backupName(path, i), Err: err})
		}
	}
	return errors.Join(errs...)
}

// writeBackup copies n bytes at off of the file open as src into
// name.<j>, through a temporary name that is unlinked first and created
// O_EXCL: whatever a worker planted there is removed, not written through.
func writeBackup(dir int, name string, j int, src int, off, n int64) error {
	tmp := backupName(name, j) + ".tmp"
	if err := unix.Unlinkat(dir, tmp, 0); err != nil && err != unix.ENOENT {
		return err
	}
	dst, err := unix.Openat(dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|safeFlags, fileMode)
	if err != nil {
		return err
	}
	err = copyRange(dst, src, off, n)
	if cerr := unix.Close(dst); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dir, tmp, dir, backupName(name, j))
	}
	if err != nil {
		_ = unix.Unlinkat(dir, tmp, 0)
	}
	return err
}

// copyRange copies n bytes at off of src to the start of dst, in the
// kernel where it can.
func copyRange(dst, src int, off, n int64) error {
	end := off + n
	for off < end {
		c, err := unix.CopyFileRange(src, &off, dst, nil, int(min(end-off, 1<<30)), 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EXDEV || err == unix.EINVAL || err == unix.ENOSYS || err == unix.EOPNOTSUPP:
			return copyRead(dst, src, off, end)
		case err != nil:
			return err
		case c == 0: // the file shrank meanwhile
			return nil
		}
	}
	return nil
}

func copyRead(dst, src int, off, end int64) error {
	buf := make([]byte, 128<<10)
	for off < end {
		n, err := unix.Pread(src, buf[:min(int64(len(buf)), end-off)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if _, err := writeAll(dst, buf[:n]); err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}

func writeAll(fd int, b []byte) (int, error) {
	total := 0
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, io.ErrShortWrite
		}
		total += n
		b = b[n:]
	}
	return total, nil
}

func backupName(name string, i int) string { return name + "." + strconv.Itoa(i) }
