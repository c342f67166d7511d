package cgroup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperResult is what the "open" helper reports on stdout.
type helperResult struct {
	Err         string
	Reason      Reason
	Mode        Mode
	Controllers []string
	Missing     map[string]string
	Leaf        string
	Self        string // the helper's cgroup after Open
	// Second is a second Tree opened by the same process after the
	// first (which may have moved it into its leaf).
	SecondErr         string
	SecondControllers []string
	// GroupFiles says whether a worker group got the controllers' files.
	GroupFiles bool
}

// helper runs in a child process, born (CLONE_INTO_CGROUP) in a cgroup the
// test made to play a systemd unit's: it opens Trees there as a daemon
// would and reports what happened.
func helper(mode string) int {
	if mode != "open" {
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		return 2
	}
	opts := Options{Delegated: os.Getenv("TEND_CGROUP_DELEGATED") == "1", Controllers: []string{}}
	if c := os.Getenv("TEND_CGROUP_CONTROLLERS"); c != "" {
		opts.Controllers = strings.Fields(c)
	}
	inst := os.Getenv("TEND_CGROUP_INST")
	var r helperResult
	tr, err := Open(inst, opts)
	if err != nil {
		r.Err = err.Error()
		var ue *UnavailableError
		if errors.As(err, &ue) {
			r.Reason = ue.Reason
		}
	} else {
		i := tr.Info()
		r.Mode, r.Controllers, r.Missing, r.Leaf = i.Mode, i.Controllers, i.Missing, i.Leaf
		b, _ := os.ReadFile("/proc/self/cgroup")
		r.Self, _ = parseProcCgroup(b)
		r.Self = strings.TrimSpace(r.Self)
		tr2, err := Open(inst+"-2", opts)
		if err != nil {
			r.SecondErr = err.Error()
		} else {
			r.SecondControllers = tr2.Info().Controllers
			if g, err := tr2.New("w", 1); err == nil {
				g.CloseFD()
				for _, c := range opts.Controllers {
					ents, _ := os.ReadDir(g.Dir())
					r.GroupFiles = slices.ContainsFunc(ents, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), c+".") })
				}
			}
			tr2.Purge(context.Background())
			tr2.Close()
		}
		tr.Purge(context.Background())
		tr.Close()
	}
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

// unitCgroup makes a cgroup beside the test's subtrees to play a systemd
// unit's, and removes it (and whatever a helper left in it) at the end.
func unitCgroup(t *testing.T) (dir, cgPath string) {
	t.Helper()
	w, err := find(Options{})
	if err != nil {
		t.Skipf("cgroup v2 is not writable here: %v", err)
	}
	if w.mode == ModeDelegated {
		t.Skip("the test process is itself in a delegated cgroup; the unit test needs the root")
	}
	name := "unit-" + instance(t) + ".service"
	dir = path.Join(w.baseDir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cgroup here: %v", err)
	}
	t.Cleanup(func() {
		// Depth first: the helper's leaf and subtrees, then the unit.
		var rm func(string)
		rm = func(d string) {
			ents, _ := os.ReadDir(d)
			for _, e := range ents {
				if e.IsDir() {
					rm(path.Join(d, e.Name()))
				}
			}
			if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
				t.Errorf("remove %s: %v", d, err)
			}
		}
		rm(dir)
	})
	return dir, path.Join(w.base, name)
}

// runHelper starts the helper inside the cgroup dir and decodes its report.
func runHelper(t *testing.T, dir string, env ...string) helperResult {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	exe, _ := os.Executable()
	cmd := exec.Command(exe)
	cmd.Env = append([]string{helperEnv + "=open", "TEND_CGROUP_INST=" + instance(t)}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = patience
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var r helperResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("helper said %q: %v", out, err)
	}
	return r
}

// A daemon in a cgroup nobody delegated to it (a unit without
// Delegate=yes, a login session) is refused, with the reason.
func TestNotDelegatedRefused(t *testing.T) {
	dir, cg := unitCgroup(t)
	r := runHelper(t, dir)
	if r.Reason != NotDelegated || !strings.Contains(r.Err, cg) || !strings.Contains(r.Err, "Delegate=yes") {
		t.Fatalf("Open in an undelegated cgroup: reason %v, %q", r.Reason, r.Err)
	}
}

// systemd marks a delegated cgroup with trusted.delegate=1; that is enough.
func TestDelegatedByXattr(t *testing.T) {
	dir, cg := unitCgroup(t)
	if err := unix.Setxattr(dir, "trusted.delegate", []byte("1"), 0); err != nil {
		t.Skipf("cannot set trusted.delegate here: %v", err)
	}
	r := runHelper(t, dir)
	if r.Err != "" || r.Mode != ModeDelegated {
		t.Fatalf("Open in a marked cgroup: mode %v, err %q", r.Mode, r.Err)
	}
	if r.Self != cg {
		t.Fatalf("the daemon moved to %q without a controller to enable", r.Self)
	}
}

// In a delegated cgroup that offers a controller, the daemon moves itself
// into its leaf (the base may not hold processes once controllers are
// enabled below it), and workers get the controller. A second Tree opened
// from the leaf finds the same base.
func TestDelegatedMovesIntoLeaf(t *testing.T) {
	const ctrl = "hugetlb" // the one controller this kind of host leaves on v2
	w, err := find(Options{})
	if err != nil {
		t.Skipf("cgroup v2 is not writable here: %v", err)
	}
	avail, _ := fields(path.Join(w.baseDir, "cgroup.controllers"))
	if !avail[ctrl] {
		t.Skipf("%s is not offered by %s; no controller to delegate", ctrl, w.baseDir)
	}
	// The base's subtree_control is the host's: test binaries of other
	// checkouts running at the same time take turns.
	lock, err := os.OpenFile(path.Join(os.TempDir(), "tend-cgroup-"+ctrl+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() }) // registered first: released last
	on, _ := fields(path.Join(w.baseDir, "cgroup.subtree_control"))
	if !on[ctrl] {
		if err := writeFile(path.Join(w.baseDir, "cgroup.subtree_control"), "+"+ctrl); err != nil {
			t.Skipf("cannot enable %s in %s: %v", ctrl, w.baseDir, err)
		}
		t.Cleanup(func() {
			// Registered before the unit's cleanup, so it runs after it.
			deadline := time.Now().Add(patience)
			for {
				err := writeFile(path.Join(w.baseDir, "cgroup.subtree_control"), "-"+ctrl)
				if err == nil || !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
					if err != nil {
						t.Errorf("restore %s/cgroup.subtree_control: %v", w.baseDir, err)
					}
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	dir, cg := unitCgroup(t)
	r := runHelper(t, dir, "TEND_CGROUP_DELEGATED=1", "TEND_CGROUP_CONTROLLERS="+ctrl)
	if r.Err != "" || r.Mode != ModeDelegated {
		t.Fatalf("Open: mode %v, err %q", r.Mode, r.Err)
	}
	if !slices.Equal(r.Controllers, []string{ctrl}) {
		t.Fatalf("controllers %v, missing %v; want %s", r.Controllers, r.Missing, ctrl)
	}
	if r.Leaf == "" || !strings.HasPrefix(r.Self, cg+"/tend-") || path.Base(r.Self) != leafName {
		t.Fatalf("daemon in %q (leaf %q); want it in a leaf under %s", r.Self, r.Leaf, cg)
	}
	if r.SecondErr != "" || !slices.Equal(r.SecondControllers, []string{ctrl}) {
		t.Fatalf("second Tree from the leaf: %q, controllers %v", r.SecondErr, r.SecondControllers)
	}
	if !r.GroupFiles {
		t.Fatalf("a worker group has no %s files", ctrl)
	}
}
