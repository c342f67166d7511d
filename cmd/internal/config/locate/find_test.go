package locate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindOrder(t *testing.T) {
	dir := t.TempDir()
	flag := writeFile(t, filepath.Join(dir, "flag.toml"), "")
	env := writeFile(t, filepath.Join(dir, "env.toml"), "")
	local := writeFile(t, filepath.Join(dir, "local", "tend.toml"), "")
	system := writeFile(t, filepath.Join(dir, "etc", "tend.toml"), "")
	missing := filepath.Join(dir, "missing.toml")

	cases := []struct {
		name           string
		flag, env      string
		defaults       []string
		want           string
		wantErrContain string
	}{
		{"flag wins", flag, env, []string{local, system}, flag, ""},
		{"env next", "", env, []string{local, system}, env, ""},
		{"local next", "", "", []string{local, system}, local, ""},
		{"system last", "", "", []string{missing, system}, system, ""},
		{"missing flag does not fall back", missing, env, []string{local}, "", "from -c"},
		{"missing env does not fall back", "", missing, []string{local}, "", "from $TEND_CONFIG"},
		{"directory is skipped", "", "", []string{dir, system}, system, ""},
		{"nothing found lists what was tried", "", "", []string{missing, filepath.Join(dir, "nope.toml")}, "",
			"tried " + missing + ", " + filepath.Join(dir, "nope.toml")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := find(tc.flag, tc.env, tc.defaults...)
			if tc.wantErrContain != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrContain) {
					t.Fatalf("find = %q, %v; want error containing %q", got, err, tc.wantErrContain)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("find = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	_, err := find("", "", missing)
	var nf *NotFoundError
	if !errors.As(err, &nf) || len(nf.Tried) != 1 || nf.Tried[0] != missing {
		t.Errorf("want *NotFoundError listing %s, got %v", missing, err)
	}
}

func TestFindUsesFlagEnvAndWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	env := writeFile(t, filepath.Join(dir, "env.toml"), "")
	writeFile(t, filepath.Join(dir, "tend.toml"), "")

	t.Setenv("TEND_CONFIG", env)
	if got, err := Find("tend.toml"); err != nil || got != "tend.toml" {
		t.Errorf("Find(flag) = %q, %v", got, err)
	}
	if got, err := Find(""); err != nil || got != env {
		t.Errorf("Find with $TEND_CONFIG = %q, %v", got, err)
	}
	t.Setenv("TEND_CONFIG", "")
	if got, err := Find(""); err != nil || got != "tend.toml" {
		t.Errorf("Find in working directory = %q, %v", got, err)
	}
	if err := os.Remove("tend.toml"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/etc/tend/tend.toml"); err == nil {
		t.Skip("/etc/tend/tend.toml exists on this host")
	}
	_, err := Find("")
	if err == nil || !strings.Contains(err.Error(), "tried tend.toml, /etc/tend/tend.toml") {
		t.Errorf("Find with nothing present: %v", err)
	}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
