package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckTrusted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	const nobody = 65534
	dir := t.TempDir() // 0700, root's, under /tmp (1777)
	file := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("[daemon]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unsafe := func(path, at, who string) {
		t.Helper()
		err := CheckTrusted(path, 0)
		var ue *UnsafeError
		if !errors.As(err, &ue) || ue.Path != at || !strings.Contains(ue.Who, who) || !strings.Contains(err.Error(), at) || !strings.Contains(err.Error(), "--allow-unsafe-config") {
			t.Fatalf("CheckTrusted(%s) = %v, want %s unsafe because of %q", path, err, at, who)
		}
	}
	safe := func(path string, uid int) {
		t.Helper()
		if err := CheckTrusted(path, uid); err != nil {
			t.Fatalf("CheckTrusted(%s, %d): %v", path, uid, err)
		}
	}

	safe(file("ok.toml", 0o600), 0)
	safe(file("rootgroup.toml", 0o664), 0) // group-writable by root's group only

	p := file("everyone.toml", 0o666)
	unsafe(p, p, "every user (mode 0666)")

	p = file("group.toml", 0o620)
	if err := os.Chown(p, 0, nobody); err != nil {
		t.Fatal(err)
	}
	unsafe(p, p, "group")

	p = file("owned.toml", 0o600)
	if err := os.Chown(p, nobody, 0); err != nil {
		t.Fatal(err)
	}
	unsafe(p, p, "its owner, uid 65534")
	safe(p, nobody) // the daemon's own uid may own it

	// A directory on the way that others can write: they can swap the file.
	sub := filepath.Join(dir, "open")
	if err := os.Mkdir(sub, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(sub, 0o777)
	p = filepath.Join(sub, "tend.toml")
	os.WriteFile(p, nil, 0o600)
	unsafe(p, sub, "every user (mode 0777)")
	// Sticky, like /tmp: only the owner of an entry can swap it.
	os.Chmod(sub, 0o777|os.ModeSticky)
	safe(p, 0)

	// A symlink to an unsafe file is unsafe; so is one owned by another
	// user in a sticky directory, who could replace it.
	link := filepath.Join(dir, "link.toml")
	if err := os.Symlink(filepath.Join(dir, "everyone.toml"), link); err != nil {
		t.Fatal(err)
	}
	unsafe(link, filepath.Join(dir, "everyone.toml"), "every user")
	good := file("target.toml", 0o600)
	owned := filepath.Join(sub, "theirs.toml")
	os.Symlink(good, owned)
	if err := os.Lchown(owned, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	unsafe(owned, owned, "its owner, uid 65534")

	if err := CheckTrusted(filepath.Join(dir, "missing.toml"), 0); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
