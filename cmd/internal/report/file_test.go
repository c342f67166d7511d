package report

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// WriteFile replaces a link at its path instead of writing through it,
// makes the file 0600, and leaves nothing behind when the report fails.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("TARGET"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report.html")
	if err := os.Symlink(target, out); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(out, func(w io.Writer) error { _, err := io.WriteString(w, "<html>"); return err }); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(out)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("report.html: %v %v, want a regular file of mode 0600", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(target); string(b) != "TARGET" {
		t.Fatalf("written through the link: %q", b)
	}
	boom := errors.New("boom")
	if err := WriteFile(filepath.Join(dir, "failed.html"), func(w io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("WriteFile: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("left behind: %v", ents)
	}
}
