package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const hybridMountinfo = `24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 24 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

func TestParseMountinfo(t *testing.T) {
	cases := []struct {
		name, in string
		want     []mount
	}{
		{"hybrid", hybridMountinfo, []mount{{Root: "/", Point: "/sys/fs/cgroup/unified"}}},
		{"pure v2 with optional fields", "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 master:1 - cgroup2 cgroup2 rw,nsdelegate\n",
			[]mount{{Root: "/", Point: "/sys/fs/cgroup"}}},
		{"container bind of a subtree", "700 690 0:26 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n",
			[]mount{{Root: "/docker/abc", Point: "/sys/fs/cgroup"}}},
		{"escaped space", `50 31 0:40 / /mnt/my\040cg rw - cgroup2 none rw` + "\n",
			[]mount{{Root: "/", Point: "/mnt/my cg"}}},
		{"v1 only", "35 31 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", nil},
		{"garbage", "not a mountinfo line\n\n- cgroup2\n", nil},
	}
	for _, c := range cases {
		got, err := parseMountinfo(strings.NewReader(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
			}
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{"9:name=systemd:/\n4:memory:/x\n0::/\n", "/", true},
		{"0::/system.slice/tend.service\n", "/system.slice/tend.service", true},
		{"4:memory:/x\n1:cpu:/\n", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		got, ok := parseProcCgroup([]byte(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("parseProcCgroup(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestLocate(t *testing.T) {
	mounts := []mount{{Root: "/", Point: "/sys/fs/cgroup"}, {Root: "/docker/abc", Point: "/mnt/c"}}
	cases := []struct {
		cg, want string
		ok       bool
	}{
		{"/", "/sys/fs/cgroup", true},
		{"/system.slice/tend.service", "/sys/fs/cgroup/system.slice/tend.service", true},
		{"/docker/abc/x", "/mnt/c/x", true}, // the more specific mount wins
		{"/docker/abcd", "/sys/fs/cgroup/docker/abcd", true},
		{"/../outside", "", false}, // outside our cgroup namespace
	}
	for _, c := range cases {
		_, got, ok := locate(mounts, c.cg)
		if got != c.want || ok != c.ok {
			t.Errorf("locate(%q) = %q, %v; want %q, %v", c.cg, got, ok, c.want, c.ok)
		}
	}
	if _, _, ok := locate([]mount{{Root: "/docker/abc", Point: "/sys/fs/cgroup"}}, "/system.slice/x"); ok {
		t.Error("a cgroup outside the only mount was located")
	}
}

func TestKernelAtLeast(t *testing.T) {
	cases := []struct {
		rel  string
		want bool
	}{
		{"6.18.44-fc-v1272", true}, {"5.7.0", true}, {"5.6.19", false}, {"4.19.0-25-amd64", false},
		{"5.14", true}, {"weird", true}, {"", true},
	}
	for _, c := range cases {
		if got := kernelAtLeast(c.rel, 5, 7); got != c.want {
			t.Errorf("kernelAtLeast(%q, 5.7) = %v", c.rel, got)
		}
	}
}

func TestGroupNames(t *testing.T) {
	for _, c := range []struct {
		worker string
		inc    uint64
	}{{"web", 1}, {"a.b.c", 42}, {"x-y_z", 18446744073709551615}, {"supervisor", 3}} {
		name, err := groupName(c.worker, c.inc)
		if err != nil {
			t.Fatalf("groupName(%q, %d): %v", c.worker, c.inc, err)
		}
		w, inc, ok := parseGroupName(name)
		if !ok || w != c.worker || inc != c.inc {
			t.Errorf("parseGroupName(%q) = %q, %d, %v", name, w, inc, ok)
		}
	}
	for _, bad := range []struct {
		worker string
		inc    uint64
	}{{"", 1}, {"a/b", 1}, {"..", 1}, {".", 1}, {"a\nb", 1}, {"w", 0}} {
		if _, err := groupName(bad.worker, bad.inc); !errors.Is(err, ErrBadName) {
			t.Errorf("groupName(%q, %d) = %v, want ErrBadName", bad.worker, bad.inc, err)
		}
	}
	// What is not an incarnation group is left alone by List.
	for _, name := range []string{"supervisor", "w.", ".1", "w.0", "w.01", "w.+1", "w.x", "cgroup.procs"} {
		if _, _, ok := parseGroupName(name); ok {
			t.Errorf("parseGroupName(%q) accepted", name)
		}
	}
}

// A hook's group name is never an incarnation's, and each parses back to
// what made it: a worker's name may hold dots and digits, a hook's kind
// holds neither.
func TestHookGroupNames(t *testing.T) {
	for _, c := range []struct {
		worker string
		inc    uint64
		kind   string
	}{{"web", 1, "pre_start"}, {"a.5", 1, "post_stop"}, {"a", 5, "stop_command"}, {"x.pre_start", 2, "post_start"}} {
		name, err := hookGroupName(c.worker, c.inc, c.kind)
		if err != nil {
			t.Fatalf("hookGroupName(%q, %d, %q): %v", c.worker, c.inc, c.kind, err)
		}
		w, inc, kind, ok := parseHookGroupName(name)
		if !ok || w != c.worker || inc != c.inc || kind != c.kind {
			t.Errorf("parseHookGroupName(%q) = %q, %d, %q, %v", name, w, inc, kind, ok)
		}
		if _, _, ok := parseGroupName(name); ok {
			t.Errorf("the hook group %q parses as an incarnation's", name)
		}
		if !ours(name) {
			t.Errorf("%q is not taken for a group of the subtree", name)
		}
	}
	for _, name := range []string{"web.1", "supervisor", "web.pre_start", "web.1.Pre", "web.1.", "web.0.pre_start", "web.1.pre-start", ".1.pre_start"} {
		if _, _, _, ok := parseHookGroupName(name); ok {
			t.Errorf("parseHookGroupName(%q) accepted", name)
		}
	}
	for _, kind := range []string{"", "a/b", "x1", "Pre", strings.Repeat("a", 33)} {
		if _, err := hookGroupName("w", 1, kind); !errors.Is(err, ErrBadName) {
			t.Errorf("hookGroupName(w, 1, %q) = %v, want ErrBadName", kind, err)
		}
	}
}

func TestInstance(t *testing.T) {
	id := InstanceID("/var/lib/tend/events.db")
	if len(id) != 12 || id != InstanceID("/var/lib/tend/events.db") || id == InstanceID("/var/lib/tend/other.db") {
		t.Fatalf("InstanceID = %q: not a stable 12-digit hash", id)
	}
	if err := checkInstance(id); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "a/b", "../x", "a b", strings.Repeat("x", 65)} {
		if _, err := Open(bad, Options{}); !errors.Is(err, ErrBadName) {
			t.Errorf("Open(%q) = %v, want ErrBadName", bad, err)
		}
	}
}

// fakeProc writes a /proc/self with the given mountinfo and cgroup files.
func fakeProc(t *testing.T, mountinfo, cgroup string) string {
	root := t.TempDir()
	self := filepath.Join(root, "self")
	os.Mkdir(self, 0o755)
	if mountinfo != "" {
		os.WriteFile(filepath.Join(self, "mountinfo"), []byte(mountinfo), 0o644)
	}
	if cgroup != "" {
		os.WriteFile(filepath.Join(self, "cgroup"), []byte(cgroup), 0o644)
	}
	return root
}

// Every way cgroups can be unusable is an UnavailableError whose text
// names the reason and the place.
func TestUnavailableReasons(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-mount")
	cases := []struct {
		name              string
		mountinfo, cgroup string
		delegated         bool
		reason            Reason
		mention           string
	}{
		{"v1 only", "35 31 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", "4:memory:/\n", false, NoCgroup2, "mount -t cgroup2"},
		{"no 0:: line", hybridMountinfo, "4:memory:/\n", false, NoUnifiedEntry, "/proc/self/cgroup"},
		{"outside the mount", "40 31 0:36 /docker/abc " + missing + " rw - cgroup2 cgroup2 rw\n", "0::/system.slice/x.service\n", false, NotVisible, "/system.slice/x.service"},
		{"session scope", "40 31 0:36 / " + missing + " rw - cgroup2 cgroup2 rw\n", "0::/user.slice/user-0.slice/session-3.scope\n", false, NotDelegated, "session-3.scope"},
		{"delegated but not writable", "40 31 0:36 / " + missing + " rw - cgroup2 cgroup2 rw\n", "0::/system.slice/tend.service\n", true, NotWritable, missing},
	}
	for _, c := range cases {
		_, err := Open("x", Options{proc: fakeProc(t, c.mountinfo, c.cgroup), Delegated: c.delegated})
		var ue *UnavailableError
		if !errors.As(err, &ue) || !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: Open = %v, want an UnavailableError", c.name, err)
			continue
		}
		if ue.Reason != c.reason || !strings.Contains(err.Error(), c.mention) || !strings.Contains(err.Error(), c.reason.String()) {
			t.Errorf("%s: %v (reason %d), want reason %q mentioning %q", c.name, err, ue.Reason, c.reason, c.mention)
		}
	}
}

// This host's facts, as Open sees them: printed for the report, and the
// controllers bound elsewhere are explained, not silently missing.
func TestInfoExplains(t *testing.T) {
	tr := openTree(t, Options{})
	i := tr.Info()
	t.Logf("%s", i)
	if i.Dir == "" || i.Path == "" || i.Mount == "" || !strings.HasPrefix(i.Dir, i.Mount) {
		t.Fatalf("Info = %+v", i)
	}
	for _, c := range DefaultControllers {
		if !tr.Enabled(c) && i.Missing[c] == "" {
			t.Errorf("controller %s neither enabled nor explained", c)
		}
	}
	if !strings.Contains(i.String(), i.Dir) {
		t.Errorf("String() = %q", i.String())
	}
}

// Probe agrees with Open about where the subtree goes and which
// controllers workers get, and makes nothing.
func TestProbeChangesNothing(t *testing.T) {
	inst := instance(t)
	info, err := Probe(inst, Options{})
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("cgroup v2 is not writable here: %v", err)
	}
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if _, err := os.Stat(info.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Probe made %s (stat: %v)", info.Dir, err)
	}
	tr := openInstance(t, inst, Options{})
	got := tr.Info()
	if got.Dir != info.Dir || got.Path != info.Path || got.Mode != info.Mode || got.Kill != info.Kill {
		t.Fatalf("Probe %+v, Open %+v", info, got)
	}
	for _, c := range got.Controllers {
		if !slices.Contains(info.Controllers, c) {
			t.Errorf("Open enabled %s, Probe did not offer it", c)
		}
	}
	if _, err := Probe("bad/name", Options{}); !errors.Is(err, ErrBadName) {
		t.Fatalf("Probe of a bad instance: %v", err)
	}
}
