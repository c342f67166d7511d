package proc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file that stops growing is checked less and less often, down to one
// check in eight; once it grows it is checked at every pass again, and
// rotated at the first check that finds it over its limit.
func TestQuietOutputIsCheckedLessOften(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.out")
	o, err := openOutputs(Spec{Worker: "w", Stdout: path, LogMaxSize: 100, LogBackups: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	o.detach()
	checks := func(passes int) (checked int) {
		for range passes {
			before := o.files[0].skip
			if err := o.rotate(map[string]bool{}); err != nil {
				t.Fatal(err)
			}
			if before == 0 {
				checked++
			}
		}
		return checked
	}
	// Quiet: checked at passes 1, 3, 7 and 15, then every eighth.
	if n := checks(19); n != 4 {
		t.Fatalf("a quiet file was checked %d times in 19 passes, want 4", n)
	}
	if o.files[0].skip > maxQuietSkip {
		t.Fatalf("skip %d past its bound", o.files[0].skip)
	}
	// It grows past its limit: the next check (at most eight passes away)
	// rotates it, and it is checked at every pass from then on.
	if err := os.WriteFile(path, []byte(strings.Repeat("x\n", 100)), 0o640); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if i > maxQuietSkip {
			t.Fatal("not rotated within eight passes of growing")
		}
		checks(1)
		if fi, _ := os.Stat(path); fi.Size() == 0 {
			break
		}
	}
	if err := os.WriteFile(path, []byte("y\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if n := checks(2); n != 2 {
		t.Fatalf("a growing file was checked %d times in 2 passes, want 2", n)
	}
}
