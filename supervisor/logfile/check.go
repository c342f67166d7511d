package logfile

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SharedDirError says that a directory on the way to a worker's output
// files can be written by someone other than root and the worker. That
// user could replace the files, or a directory, with links to files only
// root may write, and race the daemon for every name in it.
type SharedDirError struct {
	Dir    string // the directory at fault
	Writer string // who else can write it, e.g. "every user (mode 0777)"
}

func (e *SharedDirError) Error() string {
	return fmt.Sprintf("%s is writable by %s", e.Dir, e.Writer)
}

// CheckDir judges the directory that will hold a worker's output files,
// and every directory above it, for a worker running as uid and gid. It
// returns a *SharedDirError when a user other than root and uid can write
// one of them: the directory itself, if it is owned by someone else, or
// writable by every user, or by a group other than 0 and gid; a directory
// above it likewise, unless it is sticky (then only the owner of the next
// directory down can rename or remove it, and that owner is judged there). A
// directory that does not exist yet is judged by its nearest existing
// ancestor, in which the daemon will make the rest. It returns an
// *UnsafeError when the path goes through a symbolic link that the daemon
// will not follow (see the package doc). It returns nil when it cannot
// tell, for example for lack of permission to look: the daemon's opens
// refuse what they must either way.
func CheckDir(dir string, uid, gid uint32) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	trusted := func(u uint32) bool { return u == 0 || u == uid }
	cur := "/"
	var curSt unix.Stat_t
	if unix.Lstat(cur, &curSt) != nil {
		return nil
	}
	comps := strings.Split(dir, "/")
	for links := 0; len(comps) > 0; {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			if unix.Lstat(cur, &curSt) != nil {
				return nil
			}
			continue
		}
		next := filepath.Join(cur, c)
		var st unix.Stat_t
		if err := unix.Lstat(next, &st); err == unix.ENOENT {
			break
		} else if err != nil {
			return nil
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			if !trustsLinks(&curSt, &st) {
				return &UnsafeError{Path: next, Reason: fmt.Sprintf(
					"is a symbolic link in a directory writable by %s; a link is followed only where only root can write",
					writers(&curSt, rootOnly, 0, false))}
			}
			target, err := os.Readlink(next)
			if links++; err != nil || links > maxLinks {
				return nil
			}
			if filepath.IsAbs(target) {
				cur = "/"
				if unix.Lstat(cur, &curSt) != nil {
					return nil
				}
			}
			comps = append(strings.Split(target, "/"), comps...)
			continue
		case unix.S_IFDIR:
			if w := writers(&curSt, trusted, gid, true); w != "" {
				return &SharedDirError{Dir: cur, Writer: w}
			}
			cur, curSt = next, st
			continue
		}
		return nil // not a directory: opening the file will say so
	}
	if w := writers(&curSt, trusted, gid, false); w != "" {
		return &SharedDirError{Dir: cur, Writer: w}
	}
	return nil
}

// writers describes who other than the trusted users (and the group gid)
// can change what the directory dir contains, or "" if no one. Its owner
// can, whatever the mode says, because it can change the mode. An ancestor
// that is sticky passes: others may add names to it but not rename or
// remove the next directory down, unless they own it.
func writers(dir *unix.Stat_t, trusted func(uint32) bool, gid uint32, ancestor bool) string {
	mode := fmt.Sprintf("mode %04o", dir.Mode&0o7777)
	switch {
	case !trusted(dir.Uid):
		return fmt.Sprintf("uid %d%s, its owner (%s)", dir.Uid, userName(dir.Uid), mode)
	case dir.Mode&unix.S_ISVTX != 0 && ancestor:
		return ""
	case dir.Mode&0o002 != 0:
		return fmt.Sprintf("every user (%s)", mode)
	case dir.Mode&0o020 != 0 && dir.Gid != 0 && dir.Gid != gid:
		return fmt.Sprintf("group %d%s (%s)", dir.Gid, groupName(dir.Gid), mode)
	}
	return ""
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return " (" + u.Username + ")"
	}
	return ""
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		return " (" + g.Name + ")"
	}
	return ""
}
