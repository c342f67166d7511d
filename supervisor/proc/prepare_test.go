package proc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Prepare makes missing files and directories, leaves what a file already
// holds alone, and names the worker when it cannot.
func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "a", "b", "w.out")
	spec := Spec{Worker: "w", Stdout: out, Stderr: out}
	if err := Prepare(spec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte("kept\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := Prepare(spec); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "kept\n" {
		t.Fatalf("Prepare changed an existing file: %q", b)
	}
	if err := Prepare(Spec{Worker: "null"}); err != nil {
		t.Fatalf("no output files: %v", err)
	}
	err := Prepare(Spec{Worker: "bad", Stdout: filepath.Join(out, "under-a-file")})
	if err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("error for a path under a file: %v", err)
	}
}
