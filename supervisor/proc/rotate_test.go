package proc

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRotateFileKeepsBackups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return "<none>"
		}
		return string(b)
	}
	write("small")
	if rotated, err := RotateFile(path, 10, 2); rotated || err != nil {
		t.Fatalf("under the limit: rotated=%v err=%v", rotated, err)
	}
	for _, gen := range []string{"first-0123456789", "second-0123456789", "third-0123456789"} {
		write(gen)
		if rotated, err := RotateFile(path, 10, 2); !rotated || err != nil {
			t.Fatalf("%s: rotated=%v err=%v", gen, rotated, err)
		}
	}
	for p, want := range map[string]string{
		path: "", path + ".1": "third-0123456789", path + ".2": "second-0123456789",
		path + ".3": "<none>", path + ".1.tmp": "<none>",
	} {
		if got := read(p); got != want {
			t.Errorf("%s = %q, want %q", filepath.Base(p), got, want)
		}
	}
	write("zero-backups-0123456789")
	if rotated, err := RotateFile(path, 10, 0); !rotated || err != nil || read(path) != "" || read(path+".1") != "third-0123456789" {
		t.Fatalf("backups=0: rotated=%v err=%v, file %q, .1 %q", rotated, err, read(path), read(path+".1"))
	}
	if rotated, err := RotateFile(path, 0, 2); rotated || err != nil {
		t.Fatalf("max 0 must never rotate: %v %v", rotated, err)
	}
	if _, err := RotateFile(path+".missing", 10, 1); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// A live worker keeps writing after its file is truncated under it: with
// O_APPEND its next line lands at offset 0, not at its old offset behind
// a hole of NUL bytes.
func TestRotationOfLiveWorker(t *testing.T) {
	s := newSpawner(t, Options{RotateEvery: 20 * time.Millisecond})
	spec := helperSpec(t, "w", "spam-stdout", "200us")
	spec.LogMaxSize = 16 << 10
	spec.LogBackups = 1
	p := start(t, s, spec)
	waitFor(t, "two rotations", func() bool {
		fi, err := os.Stat(spec.Stdout + ".1")
		if err != nil {
			return false
		}
		b, _ := os.ReadFile(spec.Stdout + ".1")
		// The first rotation's backup starts at line 0; a later one does not.
		return fi.Size() > spec.LogMaxSize && !bytes.HasPrefix(b, []byte("spam 00000000"))
	})
	p.Signal(syscall.SIGKILL)
	p.Wait()
	for _, f := range []string{spec.Stdout, spec.Stdout + ".1"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(b, 0) >= 0 {
			t.Fatalf("%s has NUL bytes: writer did not follow the truncate", filepath.Base(f))
		}
		if len(b) > 0 && !strings.HasPrefix(string(b), "spam ") {
			t.Fatalf("%s starts mid-line: %q", filepath.Base(f), b[:min(len(b), 40)])
		}
	}
	if _, err := os.Stat(spec.Stdout + ".2"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LogBackups=1 left a .2: %v", err)
	}
}
