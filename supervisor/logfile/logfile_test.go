package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// me is the uid the tests' files belong to, standing for the worker's.
var me = uint32(os.Geteuid())

// sharedDir is a directory someone other than root can write, as a
// worker's output directory may be: every name in it may be planted.
func sharedDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(d, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	return d
}

// secretFile is a file only root may touch, beside the shared directory.
func secretFile(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(filepath.Dir(dir), "secret")
	if err := os.WriteFile(p, []byte("SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func untouched(t *testing.T, secret string) {
	t.Helper()
	b, err := os.ReadFile(secret)
	if err != nil || string(b) != "SECRET" {
		t.Fatalf("the secret was written or truncated: %q, %v", b, err)
	}
}

func wantUnsafe(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnsafe) {
		t.Fatalf("%s: got %v, want a refusal (ErrUnsafe)", what, err)
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o640); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "<none>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A link planted at the output file's name is neither appended to, read,
// nor rotated through; a dangling one does not create its target.
func TestLinkAtTheFileIsNotFollowed(t *testing.T) {
	dir := sharedDir(t)
	secret := secretFile(t, dir)
	out := filepath.Join(dir, "w.out")
	if err := os.Symlink(secret, out); err != nil {
		t.Fatal(err)
	}
	f, err := OpenAppend(out, me)
	if f != nil {
		f.WriteString("PWNED")
		f.Close()
	}
	wantUnsafe(t, "OpenAppend", err)
	_, err = OpenRead(out, me)
	wantUnsafe(t, "OpenRead", err)
	rotated, err := Rotate(out, me, 1, 1)
	wantUnsafe(t, "Rotate", err)
	if rotated {
		t.Error("rotated through a link")
	}
	untouched(t, secret)

	created := filepath.Join(filepath.Dir(dir), "created")
	dangling := filepath.Join(dir, "d.out")
	if err := os.Symlink(created, dangling); err != nil {
		t.Fatal(err)
	}
	if f, err := OpenAppend(dangling, me); err == nil {
		f.Close()
	}
	if _, err := os.Lstat(created); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a dangling link made the daemon create its target: %v", err)
	}
}

// Rotation writes its backup through a temporary name; a link planted there
// (or at a backup's name) is removed or moved, never written through.
func TestRotationDoesNotWriteThroughPlantedBackups(t *testing.T) {
	for _, planted := range []string{"w.out.1.tmp", "w.out.1", "w.out.2", "w.out.2.tmp"} {
		t.Run(planted, func(t *testing.T) {
			dir := sharedDir(t)
			secret := secretFile(t, dir)
			out := filepath.Join(dir, "w.out")
			write(t, out, strings.Repeat("worker output line\n", 100))
			if err := os.Symlink(secret, filepath.Join(dir, planted)); err != nil {
				t.Fatal(err)
			}
			if rotated, err := Rotate(out, me, 1000, 2); !rotated || err != nil {
				t.Fatalf("rotated=%v err=%v", rotated, err)
			}
			untouched(t, secret)
			fi, err := os.Lstat(out + ".1")
			if err != nil || !fi.Mode().IsRegular() || !strings.HasPrefix(read(t, out+".1"), "worker output line") {
				t.Fatalf("w.out.1 is not the backup: %v %v", fi, err)
			}
		})
	}
}

// A FIFO at the name does not block the daemon, with or without a reader.
func TestFIFOIsRefusedWithoutBlocking(t *testing.T) {
	dir := sharedDir(t)
	out := filepath.Join(dir, "w.out")
	if err := unix.Mkfifo(out, 0o666); err != nil {
		t.Fatal(err)
	}
	try := func(what string) {
		t.Helper()
		done := make(chan error, 3)
		go func() {
			f, err := OpenAppend(out, me)
			if f != nil {
				f.Close()
			}
			done <- err
			_, err = Rotate(out, me, 1, 1)
			if err == nil {
				err = &UnsafeError{} // not rotated, and said nothing: fine
			}
			done <- err
			_, err = OpenRead(out, me)
			done <- err
		}()
		for i := range 3 {
			select {
			case err := <-done:
				wantUnsafe(t, what, err)
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: call %d blocked on a FIFO", what, i)
			}
		}
	}
	try("no reader")
	r, err := os.OpenFile(out, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	try("with a reader")
}

// A hard link to a file the worker may not touch is refused: the daemon
// would write, truncate or show that file.
func TestHardLinkIsRefused(t *testing.T) {
	dir := sharedDir(t)
	secret := secretFile(t, dir)
	out := filepath.Join(dir, "w.out")
	if err := os.Link(secret, out); err != nil {
		t.Skipf("cannot make a hard link: %v", err)
	}
	f, err := OpenAppend(out, me)
	if f != nil {
		f.WriteString("PWNED")
		f.Close()
	}
	wantUnsafe(t, "OpenAppend", err)
	_, err = OpenRead(out, me)
	wantUnsafe(t, "OpenRead", err)
	_, err = Rotate(out, me, 1, 1)
	wantUnsafe(t, "Rotate", err)
	untouched(t, secret)
}

// A file owned by someone other than root, the daemon or the worker was
// put there by someone else.
func TestForeignFileIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file away")
	}
	dir := sharedDir(t)
	out := filepath.Join(dir, "w.out")
	write(t, out, "theirs")
	if err := os.Chown(out, 12345, 12345); err != nil {
		t.Fatal(err)
	}
	_, err := OpenAppend(out, 65534)
	wantUnsafe(t, "OpenAppend", err)
	_, err = OpenRead(out, 65534)
	wantUnsafe(t, "OpenRead", err)
	if f, err := OpenAppend(out, 12345); err != nil {
		t.Fatalf("the worker's own file: %v", err)
	} else {
		f.Close()
	}
}

// A directory on the way, in a directory the worker can write, replaced by
// a link to a directory only root may write: nothing is created, written
// or read there.
func TestReplacedDirectoryIsNotFollowed(t *testing.T) {
	home := sharedDir(t) // the worker's
	rootOnly := filepath.Join(filepath.Dir(home), "rootonly")
	if err := os.Mkdir(rootOnly, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(rootOnly, "w.out"), "SECRET")
	if err := os.Symlink(rootOnly, filepath.Join(home, "logs")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(home, "logs", "w.out"), filepath.Join(home, "logs", "new", "w.out"), filepath.Join(home, "logs", "x.out")} {
		f, err := OpenAppend(p, me)
		if f != nil {
			f.WriteString("PWNED")
			f.Close()
		}
		wantUnsafe(t, "OpenAppend "+p, err)
		_, err = OpenRead(p, me)
		if err == nil {
			t.Fatalf("OpenRead %s through a planted directory link", p)
		}
	}
	_, err := Rotate(filepath.Join(home, "logs", "w.out"), me, 1, 1)
	wantUnsafe(t, "Rotate", err)
	ents, _ := os.ReadDir(rootOnly)
	if len(ents) != 1 || read(t, filepath.Join(rootOnly, "w.out")) != "SECRET" {
		t.Fatalf("the root-only directory was changed: %v", ents)
	}
}

// Links only root could have made are followed: in a directory only root
// can write, and a root link in a sticky root directory. A link that
// someone else made in a sticky directory is not.
func TestTrustedLinksAreFollowed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("trust in links rests on root owning the directory")
	}
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(base, "link", "sub", "w.out")
	f, err := OpenAppend(p, 65534)
	if err != nil {
		t.Fatalf("a link in a root-only directory: %v", err)
	}
	f.WriteString("hello\n")
	f.Close()
	if read(t, filepath.Join(real, "sub", "w.out")) != "hello\n" {
		t.Fatal("the file is not where the link leads")
	}
	// A link to the file itself.
	if err := os.Symlink(filepath.Join(real, "sub", "w.out"), filepath.Join(base, "file")); err != nil {
		t.Fatal(err)
	}
	if f, err := OpenRead(filepath.Join(base, "file"), 65534); err != nil {
		t.Fatalf("root's link to the file: %v", err)
	} else {
		f.Close()
	}

	sticky := filepath.Join(base, "sticky")
	if err := os.Mkdir(sticky, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(sticky, "root")); err != nil {
		t.Fatal(err)
	}
	if f, err := OpenAppend(filepath.Join(sticky, "root", "w.out"), 65534); err != nil {
		t.Fatalf("root's link in a sticky directory: %v", err)
	} else {
		f.Close()
	}
	if err := os.Symlink(real, filepath.Join(sticky, "theirs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(sticky, "theirs"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err = OpenAppend(filepath.Join(sticky, "theirs", "w.out"), 65534)
	wantUnsafe(t, "nobody's link in a sticky directory", err)
}

// The walk (taken when openat2 meets a link) and the one-call path agree
// on ordinary paths, "..", relative paths and missing directories.
func TestWalkResolvesLikeTheKernel(t *testing.T) {
	base := t.TempDir()
	for _, p := range []string{
		filepath.Join(base, "a", "b", "w.out"),
		filepath.Join(base, "a", "c", "..", "b", "x.out"),
	} {
		pl, err := walk(p, true)
		if err != nil {
			t.Fatalf("walk %s: %v", p, err)
		}
		fd, err := pl.open(p, unix.O_WRONLY|unix.O_CREAT, 0o640)
		pl.close()
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		if _, err := os.Stat(filepath.Clean(p)); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	t.Chdir(base)
	pl, err := walk("a/b/../b/w.out", false)
	if err != nil || pl.name != "w.out" {
		t.Fatalf("relative walk: %v", err)
	}
	var st, want unix.Stat_t
	unix.Fstat(pl.dir, &st)
	pl.close()
	unix.Stat(filepath.Join(base, "a", "b"), &want)
	if st.Ino != want.Ino {
		t.Fatal("relative walk ended elsewhere")
	}
}

// Without openat2 every open takes the walk, and is as safe.
func TestWithoutOpenat2(t *testing.T) {
	noOpenat2.Store(true)
	defer noOpenat2.Store(false)
	TestLinkAtTheFileIsNotFollowed(t)
	TestReplacedDirectoryIsNotFollowed(t)
	p := filepath.Join(t.TempDir(), "x", "w.out")
	f, err := OpenAppend(p, me)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// Files opened for the worker are 0640 in 0750 directories, in blocking
// mode, appending; /dev/null is accepted.
func TestOpenAppend(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new", "dir", "w.out")
	f, err := OpenAppend(p, me)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fl, _ := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if fl&unix.O_NONBLOCK != 0 || fl&unix.O_APPEND == 0 {
		t.Errorf("flags %#o: want O_APPEND without O_NONBLOCK", fl)
	}
	fi, _ := os.Stat(p)
	di, _ := os.Stat(filepath.Dir(p))
	if fi.Mode().Perm() != 0o640&^umask() || di.Mode().Perm() != 0o750&^umask() {
		t.Errorf("modes %v %v", fi.Mode(), di.Mode())
	}
	n, err := OpenAppend(os.DevNull, me)
	if err != nil {
		t.Fatalf("/dev/null: %v", err)
	}
	n.Close()
	if _, err := OpenRead(os.DevNull, me); !errors.Is(err, ErrNoLog) {
		t.Errorf("reading /dev/null as a log: %v", err)
	}
}

func umask() os.FileMode {
	m := unix.Umask(0)
	unix.Umask(m)
	return os.FileMode(m)
}

func TestRotateKeepsBackups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	write(t, path, "small\n")
	if rotated, err := Rotate(path, me, 10, 3); rotated || err != nil {
		t.Fatalf("under the limit: rotated=%v err=%v", rotated, err)
	}
	files := func() map[string]string {
		m := map[string]string{}
		for _, s := range []string{"", ".1", ".2", ".3", ".4", ".1.tmp", ".2.tmp"} {
			m["out.log"+s] = read(t, path+s)
		}
		return m
	}
	none := "<none>"
	for _, step := range []struct {
		text string
		want map[string]string
	}{
		// 15 bytes over a limit of 10: two pieces, cut where a line begins.
		{"aaaa\nbbbb\ncccc\n", map[string]string{"out.log": "", "out.log.1": "bbbb\ncccc\n", "out.log.2": "aaaa\n", "out.log.3": none}},
		// Two more pieces: .1 moves to .3, .2 is dropped.
		{"dddd\neeee\nffff\n", map[string]string{"out.log": "", "out.log.1": "eeee\nffff\n", "out.log.2": "dddd\n", "out.log.3": "bbbb\ncccc\n"}},
		// No line begins in the last 10 bytes: cut at the limit.
		{"gggggggggg\n", map[string]string{"out.log": "", "out.log.1": "ggggggggg\n", "out.log.2": "g", "out.log.3": "eeee\nffff\n"}},
	} {
		write(t, path, step.text)
		if rotated, err := Rotate(path, me, 10, 3); !rotated || err != nil {
			t.Fatalf("%q: rotated=%v err=%v", step.text, rotated, err)
		}
		got := files()
		for k, v := range step.want {
			if got[k] != v {
				t.Errorf("after %q: %s = %q, want %q", step.text, k, got[k], v)
			}
		}
		for _, k := range []string{"out.log.4", "out.log.1.tmp", "out.log.2.tmp"} {
			if got[k] != none {
				t.Errorf("after %q: %s exists", step.text, k)
			}
		}
	}
	write(t, path, "zero-backups-0123456789")
	if rotated, err := Rotate(path, me, 10, 0); !rotated || err != nil || read(t, path) != "" || read(t, path+".1") != "ggggggggg\n" {
		t.Fatalf("backups=0: rotated=%v err=%v, file %q", rotated, err, read(t, path))
	}
	write(t, path, "zero-backups-0123456789")
	if rotated, err := Rotate(path, me, 0, 2); rotated || err != nil {
		t.Fatalf("max 0 must never rotate: %v %v", rotated, err)
	}
	if _, err := Rotate(path+".missing", me, 10, 1); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// However much the file held, the backups hold at most max bytes each,
// the newest data, beginning with whole lines.
func TestRotateIsABound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	const max, backups = 256 << 10, 2
	data := make([]byte, 0, 4<<20+200)
	for i := 0; len(data) < 4<<20; i++ {
		data = fmt.Appendf(data, "%09d %s\n", i, strings.Repeat("x", i%97))
	}
	data = append(data, "the last line\n"...)
	write(t, path, string(data))
	write(t, path+".1", strings.Repeat("old\n", 1000))
	write(t, path+".2", strings.Repeat("older\n", 1000))
	if rotated, err := Rotate(path, me, max, backups); !rotated || err != nil {
		t.Fatalf("rotated=%v err=%v", rotated, err)
	}
	one, two := read(t, path+".1"), read(t, path+".2")
	all := two + one + read(t, path)
	if len(all) > backups*max || len(all) < backups*max-2*120 {
		t.Fatalf("the files hold %d bytes, want at most %d, not much less", len(all), backups*max)
	}
	if !bytes.HasSuffix(data, []byte(all)) {
		t.Fatal("the files do not hold the newest data, in order")
	}
	for _, b := range []struct {
		name  string
		size  int
		start int
	}{{".1", len(one), len(data) - len(one)}, {".2", len(two), len(data) - len(one) - len(two)}} {
		if b.size > max || data[b.start-1] != '\n' {
			t.Errorf("out.log%s: %d bytes, after %q: want at most %d, beginning with a line", b.name, b.size, data[b.start-1], max)
		}
	}
	if read(t, path+".3") != "<none>" {
		t.Error("a third backup")
	}

	// A single line longer than max is cut where it must be.
	write(t, path, strings.Repeat("y", 3*max))
	if rotated, err := Rotate(path, me, max, backups); !rotated || err != nil || len(read(t, path+".1")) != max || len(read(t, path+".2")) != max {
		t.Fatalf("one long line: rotated=%v err=%v", rotated, err)
	}
}

// What the worker writes while a rotation copies its backups is kept: the
// backups are cut again from the new size, older backups moved once more
// when the file now fills more of them. What it writes through every
// round, without pause, is cut by the bound.
func TestRotateCatchesUpWithTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	appendLine := func(s string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	// rotate runs a rotation of path with backups kept, the lines written
	// during the copy of each round, and checks what the files hold.
	rotate := func(what string, backups int, during map[int]string, want map[string]string) {
		t.Helper()
		afterCopy = func(round int) {
			if l, ok := during[round]; ok {
				appendLine(l)
			}
		}
		defer func() { afterCopy = nil }()
		if rotated, err := Rotate(path, me, 10, backups); !rotated || err != nil {
			t.Fatalf("%s: rotated=%v err=%v", what, rotated, err)
		}
		for suffix, w := range want {
			if got := read(t, path+suffix); got != w {
				t.Errorf("%s: out.log%s = %q, want %q", what, suffix, got, w)
			}
		}
	}

	write(t, path, "aaaa\nbbbb\ncccc\n")
	write(t, path+".1", "old1\n")
	write(t, path+".2", "old2\n")
	rotate("the last line of a burst, written during the copy", 3, map[int]string{1: "last\n"},
		map[string]string{"": "", ".1": "cccc\nlast\n", ".2": "aaaa\nbbbb\n", ".3": "old1\n", ".4": "<none>"})

	// So much that it fills a backup more: the older backups move up once
	// more, and the oldest drops out.
	write(t, path, "aaaa\nbbbb\ncccc\n")
	write(t, path+".1", "old1\n")
	write(t, path+".2", "old2\n")
	rotate("a backup more", 4, map[int]string{1: "last\nmore\nmost\n"},
		map[string]string{"": "", ".1": "more\nmost\n", ".2": "cccc\nlast\n", ".3": "aaaa\nbbbb\n", ".4": "old1\n", ".5": "<none>"})
	os.Remove(path + ".4")

	// A writer that never pauses: the rounds end, and the bound holds.
	write(t, path, "dddd\neeee\n0123456789\n")
	rotate("never pausing", 3, map[int]string{1: "r1r1\n", 2: "r2r2\n", 3: "r3r3\n", 4: "lost\n"},
		map[string]string{"": "", ".1": "r2r2\nr3r3\n", ".2": "r1r1\n", ".3": "123456789\n", ".4": "<none>"})
}

// The one follower: what is appended, a truncation (marked), a file
// replaced at the path (read from its start), and a link planted at the
// path (never read; the open file goes on being followed).
func TestFollower(t *testing.T) {
	dir := sharedDir(t)
	secret := secretFile(t, dir)
	path := filepath.Join(dir, "w.out")
	write(t, path, "one\ntwo\nthree\n")
	fl := NewFollower(path, me)
	defer fl.Close()
	fl.TruncatedMark = "==> truncated <==\n"
	if err := fl.Open(LastLines(2)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	poll := func(want string) {
		t.Helper()
		out.Reset()
		if _, err := fl.Poll(&out); err != nil || out.String() != want {
			t.Fatalf("Poll = %q, %v; want %q", out.String(), err, want)
		}
	}
	poll("two\nthree\n")
	poll("")
	appendTo(t, path, "four\n")
	poll("four\n")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, "after\n")
	poll("==> truncated <==\nafter\n")
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	write(t, path, "new file\n")
	poll("new file\n")
	os.Remove(path)
	if err := os.Symlink(secret, path); err != nil {
		t.Fatal(err)
	}
	poll("")

	// A file that does not exist yet is read from its start once it does.
	later := NewFollower(filepath.Join(dir, "later"), me)
	defer later.Close()
	if err := later.Open(LastLines(10)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing file: %v", err)
	}
	write(t, filepath.Join(dir, "later"), "first\n")
	out.Reset()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := later.Follow(ctx, 10*time.Millisecond, &out, nil); !errors.Is(err, context.DeadlineExceeded) || out.String() != "first\n" {
		t.Fatalf("Follow = %q, %v", out.String(), err)
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s)
	f.Close()
}

func TestLastLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, tc := range []struct {
		text string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"}, {"a\nb\nc", 2, "b\nc"}, {"a\nb\n", 5, "a\nb\n"}, {"a\nb\n", 0, ""}, {"", 3, ""},
	} {
		write(t, path, tc.text)
		f, _ := os.Open(path)
		off, err := LastLines(tc.n)(f, int64(len(tc.text)))
		f.Close()
		if err != nil || tc.text[off:] != tc.want {
			t.Errorf("LastLines(%d) of %q = %q, %v; want %q", tc.n, tc.text, tc.text[off:], err, tc.want)
		}
	}
}

func TestCheckDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give directories away")
	}
	base := t.TempDir()
	mk := func(name string, mode uint32, uid, gid int) string {
		t.Helper()
		p := filepath.Join(base, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const worker, wgid = 65534, 65534
	shared := mk("shared", 0o777, 0, 0)
	group := mk("group", 0o775, 0, 100)
	ownGroup := mk("owngroup", 0o775, 0, wgid)
	other := mk("other", 0o755, 12345, 0)
	mine := mk("mine", 0o755, worker, wgid)
	sticky := mk("sticky", 0o1777, 0, 0)
	mk("sticky/rootdir", 0o755, 0, 0)
	mk("sticky/theirs", 0o755, 12345, 0)
	mk("group/inner", 0o755, 0, 0)
	for _, tc := range []struct {
		dir     string
		faulty  string // "" when fine
		writer  string
		unsafe  bool
		comment string
	}{
		{dir: shared, faulty: shared, writer: "every user"},
		{dir: filepath.Join(shared, "not", "yet"), faulty: shared, writer: "every user", comment: "judged by the nearest existing ancestor"},
		{dir: group, faulty: group, writer: "group 100"},
		{dir: filepath.Join(group, "inner"), faulty: group, writer: "group 100", comment: "an ancestor others can write"},
		{dir: ownGroup},
		{dir: other, faulty: other, writer: "uid 12345"},
		{dir: mine},
		{dir: filepath.Join(mine, "logs")},
		{dir: filepath.Join(sticky, "rootdir")},
		{dir: filepath.Join(sticky, "theirs"), faulty: filepath.Join(sticky, "theirs"), writer: "uid 12345"},
		{dir: sticky, faulty: sticky, writer: "every user", comment: "the output directory itself may not be sticky-shared"},
		{dir: filepath.Join(sticky, "new"), faulty: sticky, writer: "every user"},
	} {
		err := CheckDir(tc.dir, worker, wgid)
		var sd *SharedDirError
		if tc.faulty == "" {
			if err != nil {
				t.Errorf("%s: %v, want no fault", tc.dir, err)
			}
			continue
		}
		if !errors.As(err, &sd) || sd.Dir != tc.faulty || !strings.Contains(sd.Writer, tc.writer) {
			t.Errorf("%s (%s): %v, want %s written by %s", tc.dir, tc.comment, err, tc.faulty, tc.writer)
		}
	}
	// A link in a directory the worker can write is not followed.
	if err := os.Symlink(filepath.Join(base, "sticky"), filepath.Join(mine, "link")); err != nil {
		t.Fatal(err)
	}
	if err := CheckDir(filepath.Join(mine, "link", "rootdir"), worker, wgid); !errors.Is(err, ErrUnsafe) {
		t.Errorf("a link in the worker's directory: %v", err)
	}
	// A link in a root-only directory is.
	if err := os.Symlink("mine", filepath.Join(base, "rootlink")); err != nil {
		t.Fatal(err)
	}
	if err := CheckDir(filepath.Join(base, "rootlink", "logs"), worker, wgid); err != nil {
		t.Errorf("root's link: %v", err)
	}
}

// What root set up is written to, whatever it is: the daemon's own stdout
// through /proc/self/fd (where /dev/stdout leads), a FIFO in a directory
// only root can write. Nothing of it is read back as a log.
func TestRootsPipesAreWrittenTo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("trust rests on root owning the directories")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	self := fmt.Sprintf("/proc/self/fd/%d", w.Fd())
	f, err := OpenAppend(self, 65534)
	if err != nil {
		t.Fatalf("%s: %v", self, err)
	}
	f.WriteString("through the pipe\n")
	f.Close()
	w.Close()
	if b, _ := io.ReadAll(r); string(b) != "through the pipe\n" {
		t.Fatalf("read %q from the pipe", b)
	}
	if _, err := OpenRead(self, 65534); !errors.Is(err, ErrNoLog) && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenRead of a pipe: %v", err)
	}

	fifo := filepath.Join(t.TempDir(), "fifo") // 0700, root's
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenAppend(fifo, 65534); err == nil || errors.Is(err, ErrUnsafe) || !errors.Is(err, unix.ENXIO) {
		t.Fatalf("root's FIFO without a reader: %v, want ENXIO", err)
	}
	rd, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if f, err := OpenAppend(fifo, 65534); err != nil {
		t.Fatalf("root's FIFO: %v", err)
	} else {
		f.Close()
	}
	if _, err := OpenRead(fifo, 65534); !errors.Is(err, ErrNoLog) {
		t.Fatalf("OpenRead of root's FIFO: %v", err)
	}
	if rotated, err := Rotate(fifo, 65534, 1, 1); rotated || err != nil {
		t.Fatalf("Rotate of root's FIFO: %v %v", rotated, err)
	}
}

// A file rotated by renaming (an output relay's): what the old file gained
// before the rename is read before the new file.
func TestFollowerReadsTheRenamedFileToItsEnd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.out")
	if err := os.WriteFile(path, []byte("one\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	fl := NewFollower(path, uint32(os.Geteuid()))
	defer fl.Close()
	if err := fl.Open(LastLines(10)); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if _, err := fl.Poll(&out); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("two\n")
	f.Close()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("three\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := fl.Poll(&out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "one\ntwo\nthree\n" {
		t.Fatalf("followed %q", out.String())
	}
}
