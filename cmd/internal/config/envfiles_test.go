package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestEnvFileKey(t *testing.T) {
	c := mustParse(t, lines(
		`[worker.a]`, `command = ["/bin/a"]`, `env_file = "/etc/a.env"`,
		`[worker.b]`, `command = ["/bin/b"]`, `env_file = ["rel/b.env", "-/etc/b.local"]`,
	))
	a, b := c.Workers["a"], c.Workers["b"]
	if len(a.EnvFiles) != 1 || a.EnvFiles[0].Path != "/etc/a.env" || a.EnvFiles[0].Optional {
		t.Errorf("a: %+v", a.EnvFiles)
	}
	abs, _ := filepath.Abs("rel/b.env")
	if len(b.EnvFiles) != 2 || b.EnvFiles[0].Path != abs || b.EnvFiles[0].Optional ||
		b.EnvFiles[1].Path != "/etc/b.local" || !b.EnvFiles[1].Optional {
		t.Errorf("b: %+v", b.EnvFiles)
	}
	got := configErrors(t, func() error {
		_, err := parseString(t, lines(`[worker.a]`, `command = ["/bin/a"]`, `env_file = ["-", "/x", 3]`))
		return err
	}())
	if len(got) != 1 || !strings.Contains(got[0], "tend.toml:3: worker.a.env_file: element 2: expected a string") {
		t.Errorf("got %q", got)
	}
	got = configErrors(t, func() error {
		_, err := parseString(t, lines(`[worker.a]`, `command = ["/bin/a"]`, `env_file = ["-"]`))
		return err
	}())
	if len(got) != 1 || !strings.Contains(got[0], "tend.toml:3: worker.a.env_file: element 0: an empty path") {
		t.Errorf("got %q", got)
	}
}

// TestLoadReadsEnvFiles: Load reads each file, a missing optional one is
// fine, and what a file sets is part of the worker's hash (its comments
// are not).
func TestLoadReadsEnvFiles(t *testing.T) {
	dir := t.TempDir()
	env := writeFile(t, filepath.Join(dir, "app.env"), "# db\nDB_URL='postgres://u:pw@db/app'\n")
	cfg := writeFile(t, filepath.Join(dir, "tend.toml"), lines(
		`[daemon]`, `state_dir = "state"`,
		`[worker.web]`, `command = ["/bin/true"]`, `env_file = ["app.env", "-missing.env"]`,
	))
	c1, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := c1.Workers["web"]
	if len(w.EnvFileSums) != 2 || w.EnvFileSums[1] != "absent" {
		t.Errorf("sums = %q", w.EnvFileSums)
	}
	writeFile(t, env, "# the database, commented differently\nDB_URL=\"postgres://u:pw@db/app\"\n")
	c2, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Workers["web"].Hash != w.Hash {
		t.Error("a comment in the env file changed the worker's hash")
	}
	writeFile(t, env, "DB_URL=postgres://u:other@db/app\n")
	c3, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Workers["web"].Hash == w.Hash {
		t.Error("a new value in the env file left the worker's hash alone")
	}
	if _, _, changed := Diff(c1, c3); !reflect.DeepEqual(changed, []string{"web"}) {
		t.Errorf("changed = %v", changed)
	}
	if keys := ChangedKeys(c1.Workers["web"], c3.Workers["web"]); !reflect.DeepEqual(keys, []string{"env_file"}) {
		t.Errorf("keys = %v", keys)
	}
	// The optional file appears: a change too.
	writeFile(t, filepath.Join(dir, "missing.env"), "X=1\n")
	c4, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c4.Workers["web"].Hash == c3.Workers["web"].Hash {
		t.Error("an optional file that appeared left the hash alone")
	}
}

// TestEnvFileErrorsNameFileAndLineNeverValue: every problem of an env file
// is an error at the worker's env_file key that names the env file and its
// line, and never the secret on that line.
func TestEnvFileErrorsNameFileAndLineNeverValue(t *testing.T) {
	const secret = "s3cr3t-hunter2"
	dir := t.TempDir()
	bad := writeFile(t, filepath.Join(dir, "bad.env"), "OK=1\npassword "+secret+"\nexport TOKEN="+secret+"\nQ='"+secret+"\n")
	cfg := writeFile(t, filepath.Join(dir, "tend.toml"), lines(
		`[daemon]`, `state_dir = "state"`, // 1-2
		`[worker.web]`,              // 3
		`command = ["/bin/true"]`,   // 4
		`env_file = ["bad.env"]`,    // 5
		`[worker.api]`,              // 6
		`command = ["/bin/true"]`,   // 7
		`env_file = "required.env"`, // 8
	))
	_, err := Load(cfg)
	got := configErrors(t, err)
	want := []string{
		cfg + ":5: worker.web.env_file: env file " + bad + ":2: not an assignment",
		cfg + ":5: worker.web.env_file: env file " + bad + ":3: invalid variable name",
		cfg + ":5: worker.web.env_file: env file " + bad + ":4: the quote opened on this line is never closed",
		cfg + ":8: worker.api.env_file: env file " + filepath.Join(dir, "required.env") + ": no such file or directory",
	}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d = %q, want it to start %q", i, got[i], want[i])
		}
		if strings.Contains(got[i], secret) {
			t.Errorf("error %d shows the secret: %q", i, got[i])
		}
	}
	if !strings.Contains(got[3], `write "-`) {
		t.Errorf("no hint for an optional file: %q", got[3])
	}
}

// TestEnvFileCountsTowardExecSize: what env files set counts toward what
// execve accepts (at most 6 MiB, three quarters of 8 MiB), as env does.
func TestEnvFileCountsTowardExecSize(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for f := range 7 {
		var b strings.Builder
		for i := range 9 {
			fmt.Fprintf(&b, "F%d_V%d=%s\n", f, i, strings.Repeat("y", 100_000))
		}
		name := fmt.Sprintf("big%d.env", f)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, fmt.Sprintf("%q", name))
	}
	cfg := writeFile(t, filepath.Join(dir, "tend.toml"), lines(
		`[daemon]`, `state_dir = "state"`,
		`[worker.web]`, `command = ["/bin/true"]`, `env_file = [`+strings.Join(files, ", ")+`]`,
	))
	if _, err := Load(cfg); err == nil || !strings.Contains(err.Error(), "worker.web.command: the command and env take") {
		t.Errorf("err = %v", err)
	}
}
