package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"
)

// A configuration file starts any program it names, as the daemon's user
// (root, usually) or as any user it names. Whoever can change the file, or
// replace it, can therefore run anything as root: the daemon refuses a file
// that anyone but root and its own uid could change, unless told otherwise
// on its command line (a setting inside the file could have been written by
// the very user it should keep out).

// UnsafeError is a configuration file that someone other than root and the
// daemon's uid can change: the file or one of its directories is owned by
// another user, writable by every user, or writable by a group other than
// root's.
type UnsafeError struct {
	File string // the configuration file
	Path string // what is unsafe: File, a directory above it, or a symlink on the way
	Who  string // who can change it, and how
}

func (e *UnsafeError) Error() string {
	what := e.File
	if e.Path != e.File {
		what = fmt.Sprintf("%s (on the way to %s)", e.Path, e.File)
	}
	return fmt.Sprintf("%s can be changed by %s, not only by root and the daemon's user; "+
		"a configuration starts any program it names as root (or as the daemon's user), "+
		"so the daemon refuses it: make it and its directories owned by root and writable only by their owner "+
		"(chown root, chmod go-w), or pass --allow-unsafe-config", what, e.Who)
}

// CheckTrusted returns an *UnsafeError when the file at path could be
// changed by anyone but root and uid: the rule of a trusted path. Every
// entry from the root directory to the file, along the path as written and
// along the path its symlinks lead to, must be owned by root or uid and
// writable by no one else (group-writable only by root's group). A sticky
// directory writable by all (/tmp) passes, since no one but its owner can
// remove or rename an entry of it, and that entry's owner is checked in
// turn. Access control lists are not read. Other errors (the file does not
// exist) are returned as they are.
func CheckTrusted(path string, uid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return err
	}
	check := func(p string, stat func(string) (fs.FileInfo, error)) error {
		fi, err := stat(p)
		if err != nil {
			return err
		}
		if who := changer(fi, uid); who != "" {
			return &UnsafeError{File: abs, Path: p, Who: who}
		}
		return nil
	}
	// As written: the entries whose directories could swap them (a
	// symlink's own mode means nothing; its owner does).
	for p := abs; ; p = filepath.Dir(p) {
		if err := check(p, os.Lstat); err != nil {
			return err
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	// Where it leads: the file itself and every directory above it.
	for p := resolved; ; p = filepath.Dir(p) {
		if err := check(p, os.Stat); err != nil {
			return err
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	return nil
}

// changer says who besides root and uid can change fi, or "".
func changer(fi fs.FileInfo, uid int) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	if st.Uid != 0 && int(st.Uid) != uid {
		return "its owner, " + userName(st.Uid)
	}
	mode := fi.Mode()
	if mode&fs.ModeSymlink != 0 {
		return ""
	}
	sticky := mode.IsDir() && mode&fs.ModeSticky != 0
	switch {
	case mode.Perm()&0o002 != 0 && !sticky:
		return fmt.Sprintf("every user (mode %04o)", mode.Perm())
	case mode.Perm()&0o020 != 0 && st.Gid != 0 && !sticky:
		return fmt.Sprintf("group %s (mode %04o)", groupName(st.Gid), mode.Perm())
	}
	return ""
}

func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return "uid " + id + " (" + u.Username + ")"
	}
	return "uid " + id
}

func groupName(gid uint32) string {
	id := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name + " (gid " + id + ")"
	}
	return "gid " + id
}

// TrustPath is a file the daemon reads because the configuration names it
// (an included file, the directory an include pattern is matched in, an
// env file), with where the configuration does.
type TrustPath struct {
	Path  string
	Where string // "tend.toml:12: worker.web.env_file"
}

// TrustPaths lists the files besides the configuration file itself that
// the daemon reads, each once, in the order the file names them: each
// must pass CheckTrustedPath as the configuration file passes
// CheckTrusted.
func (c *Config) TrustPaths() []TrustPath {
	var out []TrustPath
	seen := map[string]bool{}
	if len(c.Files) > 0 || len(c.IncludeDirs) > 0 {
		where := strings.TrimSuffix(c.errorAt(toml.Key{"include"}, 0, "", nil).Error(), ": ")
		// The directories first: whoever can write one could add a file
		// that the next reload reads.
		for _, p := range append(slices.Clone(c.IncludeDirs), c.Files...) {
			if !seen[p] {
				seen[p] = true
				out = append(out, TrustPath{Path: p, Where: where})
			}
		}
	}
	for _, name := range c.Order {
		w := c.Workers[name]
		for _, f := range w.EnvFiles {
			if seen[f.Path] {
				continue
			}
			seen[f.Path] = true
			e := c.errorAt(toml.Key{"worker", w.TableName(), "env_file"}, w.Line, "", nil)
			out = append(out, TrustPath{Path: f.Path, Where: strings.TrimSuffix(e.Error(), ": ")})
		}
	}
	return out
}

// CheckTrustedPath is CheckTrusted for a file that may not exist yet (an
// optional env file): a missing file is judged by the nearest directory
// above it that exists, since whoever can write there can create it.
func CheckTrustedPath(path string, uid int) error {
	err := CheckTrusted(path, uid)
	for p := path; errors.Is(err, fs.ErrNotExist) && p != filepath.Dir(p); {
		p = filepath.Dir(p)
		err = CheckTrusted(p, uid)
	}
	return err
}
