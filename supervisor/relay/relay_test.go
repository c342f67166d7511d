package relay

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tendhq/tend/supervisor/logfile"
)

// relayThrough copies what write writes through a stream into path.
func relayThrough(t *testing.T, c *Config, path string, now func() time.Time, write func(w io.Writer)) {
	t.Helper()
	a, err := logfile.OpenAppender(path, uint32(os.Geteuid()))
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{c: c, a: a, now: now}
	done := make(chan struct{})
	go func() { defer close(done); s.copy(r) }()
	write(w)
	w.Close()
	<-done
	r.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

func files(t *testing.T, path string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	names, _ := filepath.Glob(path + "*")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(n, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		out[filepath.Base(n)] = b
	}
	return out
}

// The bound is exact: no file passes log_max_size, a line is never split
// across files, and what is kept is the newest data in order.
func TestRotationIsExact(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.out")
	c := &Config{Worker: "w", Incarnation: 3, MaxSize: 1000, Backups: 3}
	relayThrough(t, c, path, time.Now, func(w io.Writer) {
		for i := range 200 {
			io.WriteString(w, strings.Repeat("x", i%50)+"\n")
		}
	})
	fs := files(t, path)
	if len(fs) != 4 {
		t.Fatalf("files %v, want the file and 3 backups", len(fs))
	}
	for name, b := range fs {
		if len(b) > 1000 {
			t.Errorf("%s holds %d bytes", name, len(b))
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if !strings.Contains(l, " #3 ") {
				t.Errorf("%s: line %q not stamped whole", name, l)
			}
		}
	}
	// The newest line is the last of the current file.
	cur := strings.TrimSuffix(string(fs["w.out"]), "\n")
	if want := strings.Repeat("x", 199%50); !strings.HasSuffix(cur, " #3 "+want) {
		t.Errorf("current file ends %q", cur[max(0, len(cur)-80):])
	}
}

// A line longer than a file is cut into records of a file each, the later
// ones marked; a long line under the bound starts a new file whole.
func TestLongLines(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.out")
	c := &Config{Incarnation: 1, MaxSize: 1024, Backups: 10}
	relayThrough(t, c, path, time.Now, func(w io.Writer) {
		io.WriteString(w, "short\n"+strings.Repeat("y", 3000)+"\n")
	})
	var all []string
	for name, b := range files(t, path) {
		if len(b) > 1024 {
			t.Errorf("%s holds %d bytes", name, len(b))
		}
		all = append(all, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	pieces, text := 0, 0
	for _, l := range all {
		if strings.Contains(l, " #1+ ") {
			pieces++
		}
		text += strings.Count(l, "y")
	}
	if pieces < 2 || text != 3000 {
		t.Errorf("%d continuation records, %d bytes of the long line; lines %d", pieces, text, len(all))
	}
}

// A file older than log_max_age is rotated at its next line, and
// compressed.
func TestRotationByAge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.out")
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	c := &Config{Incarnation: 1, MaxAge: time.Hour, Backups: 2, Compress: true}
	relayThrough(t, c, path, clock, func(w io.Writer) {
		io.WriteString(w, "first\n")
		time.Sleep(50 * time.Millisecond)
		now.Add(int64(2 * time.Hour))
		io.WriteString(w, "second\n")
	})
	fs := files(t, path)
	if !bytes.Contains(fs["w.out.1.gz"], []byte(" #1 first\n")) || !bytes.HasSuffix(fs["w.out"], []byte(" #1 second\n")) {
		t.Fatalf("files %q", fs)
	}
}

// A link planted at a backup's name is replaced, never written through.
func TestRotationDoesNotFollowPlantedLinks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.out")
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"w.out.1", "w.out.2", "w.out.1.gz.tmp"} {
		if err := os.Symlink(victim, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	c := &Config{Incarnation: 1, MaxSize: 1024, Backups: 2, Compress: true}
	relayThrough(t, c, path, time.Now, func(w io.Writer) {
		for range 100 {
			io.WriteString(w, strings.Repeat("z", 40)+"\n")
		}
	})
	if b, _ := os.ReadFile(victim); string(b) != "keep\n" {
		t.Fatalf("the link's target was written: %q", b)
	}
}
