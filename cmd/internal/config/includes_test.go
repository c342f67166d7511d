package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestIncludeReadsWorkersFromEveryFile(t *testing.T) {
	dir := t.TempDir()
	main := writeFile(t, filepath.Join(dir, "tend.toml"), lines(
		`include = ["conf.d/*.toml", "extra.toml"]`,
		`[daemon]`, `state_dir = "state"`,
		`[worker.db]`, `command = ["/bin/db"]`,
	))
	writeFile(t, filepath.Join(dir, "conf.d", "b.toml"), lines(
		`# the app`, `[worker.app]`, `command = ["/bin/app"]`, `stdout = "logs/app.out"`, `depends_on = { db = "ready" }`,
	))
	writeFile(t, filepath.Join(dir, "conf.d", "a.toml"), lines(`[worker.api]`, `command = ["/bin/api"]`))
	writeFile(t, filepath.Join(dir, "conf.d", "notes.txt"), "not toml at all [[[")
	writeFile(t, filepath.Join(dir, "extra.toml"), lines(`[worker.cron]`, `command = ["/bin/cron"]`))
	c, err := Load(main)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Order, []string{"api", "app", "cron", "db"}) {
		t.Errorf("order = %v", c.Order)
	}
	want := []string{filepath.Join(dir, "conf.d", "a.toml"), filepath.Join(dir, "conf.d", "b.toml"), filepath.Join(dir, "extra.toml")}
	if !reflect.DeepEqual(c.Files, want) {
		t.Errorf("files = %v", c.Files)
	}
	if !reflect.DeepEqual(c.IncludeDirs, []string{filepath.Join(dir, "conf.d"), dir}) {
		t.Errorf("dirs = %v", c.IncludeDirs)
	}
	// A relative path is relative to the file that holds it.
	if got := c.Workers["app"].Stdout; got != filepath.Join(dir, "conf.d", "logs", "app.out") {
		t.Errorf("stdout = %s", got)
	}
	var paths []string
	for _, p := range c.TrustPaths() {
		paths = append(paths, p.Path)
		if !strings.HasSuffix(p.Where, "tend.toml:1: include") {
			t.Errorf("%s named at %q", p.Path, p.Where)
		}
	}
	if !reflect.DeepEqual(paths, append([]string{filepath.Join(dir, "conf.d"), dir}, want...)) {
		t.Errorf("trust paths = %v", paths)
	}

	// The hash covers every file: unchanged, unchanged; one included file
	// edited, changed.
	again, _ := Load(main)
	if again.Hash != c.Hash {
		t.Error("the same files hash differently")
	}
	writeFile(t, filepath.Join(dir, "extra.toml"), lines(`[worker.cron]`, `command = ["/bin/cron"]`, `# a note`))
	edited, _ := Load(main)
	if edited.Hash == c.Hash {
		t.Error("an edit of an included file left the configuration's hash alone")
	}
	if _, _, changed := Diff(c, edited); changed != nil {
		t.Errorf("a comment changed workers: %v", changed)
	}
}

// TestIncludeErrorsNameTheRightFile: every kind of problem in an included
// file is reported at that file and line, beside those of the main file.
func TestIncludeErrorsNameTheRightFile(t *testing.T) {
	dir := t.TempDir()
	main := writeFile(t, filepath.Join(dir, "tend.toml"), lines(
		`include = ["conf.d/*.toml", "missing.toml", "conf.d/[bad"]`, // 1
		`[daemon]`,               // 2
		`state_dir = "state"`,    // 3
		`[worker.web]`,           // 4
		`command = ["/bin/web"]`, // 5
		`stop_timout = "1s"`,     // 6
	))
	writeFile(t, filepath.Join(dir, "conf.d", "a.toml"), lines(
		`[worker.api]`,                    // 1
		`command = ["/bin/api"]`,          // 2
		`stop_timeout = "never"`,          // 3
		`depends_on = { nope = "ready" }`, // 4
		`[worker.web]`,                    // 5
		`command = ["/bin/web2"]`,         // 6
	))
	writeFile(t, filepath.Join(dir, "conf.d", "b.toml"), lines(
		`include = ["x"]`,     // 1
		`[daemon]`,            // 2
		`log_level = "debug"`, // 3
		`[worker.b]`,          // 4
		`command = "oops"`,    // 5
	))
	writeFile(t, filepath.Join(dir, "conf.d", "c.toml"), lines(`[worker.c]`, `command = ["/bin/c"`, ``))
	_, err := Parse(main, mustRead(t, main))
	got := configErrors(t, err)
	a, b, c := filepath.Join(dir, "conf.d", "a.toml"), filepath.Join(dir, "conf.d", "b.toml"), filepath.Join(dir, "conf.d", "c.toml")
	want := []string{
		main + `:1: include: element 1: ` + filepath.Join(dir, "missing.toml") + `: no such file`,
		main + `:1: include: element 2: invalid pattern`,
		main + `:6: worker.web.stop_timout: unknown key (did you mean "stop_timeout"?)`,
		a + `:3: worker.api.stop_timeout: invalid duration`,
		a + `:4: worker.api.depends_on.nope: no such worker`,
		a + `:5: worker.web: worker "web" is defined again; it is first defined at ` + main + `:4`,
		b + `:1: include: an included file holds only [worker.NAME] tables; include belongs in the main file`,
		b + `:2: daemon: an included file holds only [worker.NAME] tables; [daemon] belongs in the main file`,
		b + `:5: worker.b.command: expected an array of strings`,
		c + `:3: syntax error`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d errors:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d:\n got  %s\n want %s…", i, got[i], want[i])
		}
	}
}

// Host checks (Validate) of a worker in an included file point at that
// file too.
func TestIncludeValidateNamesTheRightFile(t *testing.T) {
	dir := t.TempDir()
	main := writeFile(t, filepath.Join(dir, "tend.toml"), lines(`include = ["more.toml"]`, `[daemon]`, `state_dir = "state"`))
	more := writeFile(t, filepath.Join(dir, "more.toml"), lines(`[worker.x]`, `command = ["/bin/x"]`, `user = "tend-no-such-user"`))
	_, err := Load(main)
	got := configErrors(t, err)
	if len(got) != 1 || !strings.HasPrefix(got[0], more+`:3: worker.x.user: worker "x": no such user`) {
		t.Errorf("got %q", got)
	}
}

func TestIncludeOfNothingAndOfItself(t *testing.T) {
	dir := t.TempDir()
	main := writeFile(t, filepath.Join(dir, "tend.toml"), lines(
		`include = ["*.toml", "empty.d/*.toml"]`, `[daemon]`, `state_dir = "state"`, `[worker.a]`, `command = ["/bin/a"]`))
	os.Mkdir(filepath.Join(dir, "empty.d"), 0o755)
	c, err := Load(main)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Order, []string{"a"}) || len(c.Files) != 0 {
		t.Errorf("order %v files %v", c.Order, c.Files)
	}
}
