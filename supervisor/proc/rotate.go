package proc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
)

// RotateFile rotates the file at path when it is larger than max bytes:
// path.1 … path.(backups-1) shift up by one (the oldest is overwritten),
// the contents are copied to path.1, and path is truncated to zero. With
// backups == 0 the file is only truncated. It reports whether it rotated.
// A missing file is an error wrapping fs.ErrNotExist.
//
// Rotation is copy-then-truncate because workers keep the file open with
// O_APPEND and write to it directly; after the truncate their next write
// lands at offset 0. Bytes written after the copy reached the end and
// before the truncate are lost. That window is one copy_file_range of at
// most a little more than max bytes.
func RotateFile(path string, max int64, backups int) (bool, error) {
	if max <= 0 {
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return false, fmt.Errorf("proc: rotate %s: %w", path, err)
	}
	defer f.Close()
	return rotateFile(f, path, max, backups)
}

// rotateFile rotates the file open as w, whose name is path. Working on
// the open file rather than the name guarantees that the truncated file is
// the one the worker writes to.
func rotateFile(w *os.File, path string, max int64, backups int) (bool, error) {
	fi, err := w.Stat()
	if err != nil {
		return false, fmt.Errorf("proc: rotate %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() <= max {
		return false, nil
	}
	if backups > 0 {
		if err := shiftBackups(path, backups); err != nil {
			return false, err
		}
		if err := copyTo(w, path+".1"); err != nil {
			return false, fmt.Errorf("proc: rotate %s: %w", path, err)
		}
	}
	if err := w.Truncate(0); err != nil {
		return false, fmt.Errorf("proc: rotate %s: truncate: %w", path, err)
	}
	return true, nil
}

// shiftBackups renames path.(n-1) → path.n down to path.1 → path.2.
func shiftBackups(path string, backups int) error {
	for i := backups - 1; i >= 1; i-- {
		from, to := path+"."+strconv.Itoa(i), path+"."+strconv.Itoa(i+1)
		if err := os.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("proc: rotate %s: %w", path, err)
		}
	}
	return nil
}

// copyTo copies the whole file open as w into dst, through a temporary
// name so a crash never leaves a half-written dst. w is write-only, so it
// is reopened for reading through /proc/self/fd, which names the same
// inode even if the path was renamed.
func copyTo(w *os.File, dst string) error {
	r, err := os.Open(procRoot + "/self/fd/" + strconv.FormatUint(uint64(w.Fd()), 10))
	if err != nil {
		return err
	}
	defer r.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
