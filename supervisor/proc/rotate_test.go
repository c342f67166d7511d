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

	"github.com/tendhq/tend/supervisor/logfile"
)

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
		b, _ := os.ReadFile(spec.Stdout + ".1")
		// The first rotation's backup starts near line 0; a later one does not.
		return len(b) > 0 && !bytes.HasPrefix(b, []byte("spam 0000000"))
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
	if fi, err := os.Stat(spec.Stdout + ".1"); err != nil || fi.Size() > spec.LogMaxSize {
		t.Fatalf("the backup holds more than LogMaxSize: %v %v", fi.Size(), err)
	}
	if _, err := os.Stat(spec.Stdout + ".2"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LogBackups=1 left a .2: %v", err)
	}
}

// Start refuses an output file a worker replaced with a link, and says so
// with the errno-free ErrUnsafe the caller can tell apart.
func TestStartRefusesAPlantedLink(t *testing.T) {
	s := newSpawner(t, Options{})
	spec := helperSpec(t, "w", "exit", "0")
	secret := filepath.Join(filepath.Dir(spec.Stdout), "secret")
	if err := os.WriteFile(secret, []byte("SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The directory is someone else's to write, as a worker's may be.
	if err := os.Chmod(filepath.Dir(spec.Stdout), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, spec.Stdout); err != nil {
		t.Fatal(err)
	}
	p, err := s.Start(spec)
	if err == nil {
		p.Wait()
		t.Fatal("started on a link planted at its output file")
	}
	var se *StartError
	if !errors.As(err, &se) || !errors.Is(err, logfile.ErrUnsafe) {
		t.Fatalf("Start: %v", err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "SECRET" {
		t.Fatalf("the secret changed: %q", b)
	}
	if err := Prepare(spec); !errors.Is(err, logfile.ErrUnsafe) {
		t.Fatalf("Prepare: %v", err)
	}
}

// With cgroups, a pass skips the files of idle incarnations while the
// subtree's CPU counter stands still, at most maxStillSkip passes in a
// row; a worker that runs makes every pass look again, and a file grown
// from outside the subtree is still rotated within the bound.
func TestRotationSkipsWhileTheSubtreeIsStill(t *testing.T) {
	tree := openTree(t)
	if tree.Info().Leaf != "" {
		t.Skip("this process lives in the subtree: its counter never stands still")
	}
	s := newSpawner(t, Options{Cgroups: tree, RotateEvery: time.Hour})
	spec := helperSpec(t, "idle", "exit", "0")
	spec.Worker, spec.Command = "still-idle", []string{"sleep", "1000"}
	spec.LogMaxSize, spec.LogBackups = 100, 1
	p := start(t, s, spec)
	of := &p.out.files[0]
	var sw sweep
	// looked runs one pass and says whether it looked at the idle
	// worker's file: a look always moves its skip or quiet count.
	looked := func() bool {
		p.out.mu.Lock()
		skip, quiet := of.skip, of.quiet
		p.out.mu.Unlock()
		if err := s.rotateAll(&sw); err != nil {
			t.Fatal(err)
		}
		p.out.mu.Lock()
		defer p.out.mu.Unlock()
		return of.skip != skip || of.quiet != quiet
	}
	// Let sleep's exec settle, then count.
	waitFor(t, "a still pass", func() bool { return !looked() })
	run, still := 0, 0
	for range 40 {
		if looked() {
			run = 0
			continue
		}
		still++
		if run++; run > maxStillSkip {
			t.Fatalf("%d passes in a row skipped the files", run)
		}
	}
	if still < 30 {
		t.Fatalf("only %d of 40 passes over an idle subtree skipped its files", still)
	}

	// Grown from outside the subtree: rotated within the bound anyway.
	if err := os.WriteFile(spec.Stdout, []byte(strings.Repeat("x\n", 100)), 0o640); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if i > (maxStillSkip+1)*(maxQuietSkip+1) {
			t.Fatal("a file grown from outside was not rotated within the bound")
		}
		looked()
		if fi, _ := os.Stat(spec.Stdout); fi.Size() == 0 {
			break
		}
	}

	// A worker of the subtree that runs moves the counter: every pass
	// looks at every file again.
	loud := helperSpec(t, "loud", "spam-stdout", "20ms")
	loud.Worker = "still-loud"
	start(t, s, loud)
	waitFor(t, "the loud worker's first line", func() bool {
		fi, err := os.Stat(loud.Stdout)
		return err == nil && fi.Size() > 0
	})
	for i := range 10 {
		time.Sleep(30 * time.Millisecond)
		if !looked() {
			t.Fatalf("pass %d skipped the files while a worker of the subtree ran", i)
		}
	}
}
