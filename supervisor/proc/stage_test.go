package proc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Stage makes ahead of Start the output file (open) and the incarnation's
// cgroup; Start forks with those very ones. A staged part made for other
// settings is not used, and what is staged and never started is undone by
// the worker's next Stage, by Unstage and by Close.
func TestStageMakesWhatStartUses(t *testing.T) {
	trackingWith(t, Options{Subreaper: true}, func(t *testing.T, s *Spawner) {
		dir := t.TempDir()
		out := filepath.Join(dir, "w.out")
		spec := func(inc uint64, stdout string) Spec {
			return Spec{Worker: "staged", Incarnation: inc, Stdout: stdout, Stderr: stdout,
				Command: []string{"/bin/sh", "-c", "echo incarnation $TEND_INCARNATION; exec sleep 1000"}}
		}
		group := func(inc uint64) string {
			if s.tree == nil {
				return ""
			}
			return filepath.Join(s.tree.Info().Dir, "staged."+strconv.FormatUint(inc, 10))
		}
		exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
		inode := func(p string) uint64 {
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err != nil {
				t.Fatalf("stat %s: %v", p, err)
			}
			return st.Ino
		}

		s.Stage(spec(1, out))
		if !exists(out) {
			t.Fatal("Stage did not make the output file")
		}
		var before uint64
		if g := group(1); g != "" {
			if !exists(g) {
				t.Fatal("Stage did not make the incarnation's cgroup")
			}
			before = inode(g)
		}
		// What Start writes to is the file Stage opened, wherever it is
		// now, and the cgroup it forks into is the one Stage made.
		moved := filepath.Join(dir, "moved.out")
		if err := os.Rename(out, moved); err != nil {
			t.Fatal(err)
		}
		p := start(t, s, spec(1, out))
		waitFor(t, "the worker's first line", func() bool {
			b, _ := os.ReadFile(moved)
			return strings.Contains(string(b), "incarnation 1")
		})
		if exists(out) {
			t.Fatal("Start opened the output file again instead of the one staged")
		}
		if g := group(1); g != "" {
			if p.Cgroup() == nil || p.Cgroup().Dir() != g || inode(g) != before {
				t.Fatalf("Start did not fork into the staged cgroup %s", g)
			}
		}
		if left := stagedLeft(s); left != 0 {
			t.Fatalf("%d staged parts left after their Start", left)
		}
		if err := p.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.Wait()
		p.Release()

		// Staged for other settings: Start makes its own.
		other := filepath.Join(dir, "other.out")
		s.Stage(spec(2, other))
		p2 := start(t, s, spec(2, moved))
		waitFor(t, "the second incarnation's line", func() bool {
			b, _ := os.ReadFile(moved)
			return strings.Contains(string(b), "incarnation 2")
		})
		if b, _ := os.ReadFile(other); len(b) != 0 {
			t.Fatalf("Start used a part staged for other settings: %q", b)
		}
		p2.Signal(syscall.SIGKILL)
		p2.Wait()
		p2.Release()

		// Undone: by the next Stage, by Unstage, by Close.
		s.Stage(spec(3, moved))
		s.Stage(spec(4, moved))
		if g := group(3); g != "" && exists(g) {
			t.Fatal("the next Stage left the cgroup of the incarnation staged before")
		}
		if g := group(4); g != "" && !exists(g) {
			t.Fatal("Stage did not make the cgroup of incarnation 4")
		}
		s.Unstage("staged", 4)
		if g := group(4); g != "" && exists(g) {
			t.Fatal("Unstage left the staged cgroup")
		}
		s.Stage(spec(5, moved))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if g := group(5); g != "" && exists(g) {
			t.Fatal("Close left the staged cgroup")
		}
		if p, err := s.Start(spec(6, moved)); err == nil {
			p.Signal(syscall.SIGKILL)
			t.Fatal("Start after Close succeeded")
		}
	})
}

// A Stage that could not make its part leaves nothing behind, and Start
// makes it again and reports why it could not.
func TestStageThatFailsLeavesStartToReport(t *testing.T) {
	trackingWith(t, Options{Subreaper: true}, func(t *testing.T, s *Spawner) {
		file := filepath.Join(t.TempDir(), "a-file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		spec := Spec{Worker: "failing", Incarnation: 1, Command: []string{"/bin/true"},
			Stdout: filepath.Join(file, "under-a-file")}
		s.Stage(spec)
		if s.tree != nil {
			if _, err := os.Stat(filepath.Join(s.tree.Info().Dir, "failing.1")); err == nil {
				t.Fatal("a Stage that failed left the incarnation's cgroup")
			}
		}
		p, err := s.Start(spec)
		if err == nil {
			p.Signal(syscall.SIGKILL)
			p.Wait()
			t.Fatal("Start succeeded with its output under a file")
		}
		if !strings.Contains(err.Error(), "under-a-file") {
			t.Fatalf("Start's error does not name the output it could not open: %v", err)
		}
		if left := stagedLeft(s); left != 0 {
			t.Fatalf("%d staged parts left after a failed Start", left)
		}
	})
}

// stagedLeft counts the parts s holds staged and not yet taken.
func stagedLeft(s *Spawner) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.staged)
}
