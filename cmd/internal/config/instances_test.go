package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestInstancesExpand(t *testing.T) {
	c := mustParse(t, lines(
		`[worker.web]`,
		`instances = 3`,
		`command = ["/bin/web", "--port={instance+8080}", "--id={instance}", "--zero={instance-1}", "{other}"]`,
		`env = { SLOT = "{instance}" }`,
		`stdout = "/var/log/web-{instance}.out"`,
		`health = { type = "http", url = "http://127.0.0.1:{instance+8080}/" }`,
		`[worker.db]`, `command = ["/bin/db", "{instance}"]`,
	))
	if !reflect.DeepEqual(c.Order, []string{"db", "web@1", "web@2", "web@3"}) {
		t.Fatalf("order = %v", c.Order)
	}
	w := c.Workers["web@2"]
	if want := []string{"/bin/web", "--port=8082", "--id=2", "--zero=1", "{other}"}; !reflect.DeepEqual(w.Command, want) {
		t.Errorf("command = %q", w.Command)
	}
	if w.Env["SLOT"] != "2" || w.Stdout != "/var/log/web-2.out" || w.Health.URL != "http://127.0.0.1:8082/" {
		t.Errorf("web@2: env %v stdout %s url %s", w.Env, w.Stdout, w.Health.URL)
	}
	if w.InstanceOf != "web" || w.Instance != 2 || w.TableName() != "web" || w.Line != 1 {
		t.Errorf("web@2: %+v", w)
	}
	// The default output is per instance.
	if got := c.Workers["web@3"].Stderr; !strings.HasSuffix(got, "/logs/web@3.err") {
		t.Errorf("stderr = %s", got)
	}
	// Outside an instanced worker, {instance} is text.
	if c.Workers["db"].Command[1] != "{instance}" {
		t.Errorf("db = %q", c.Workers["db"].Command)
	}
	if tp := c.Templates["web"]; tp == nil || tp.Instances != 3 || tp.Line != 1 {
		t.Errorf("template = %+v", tp)
	}
	if got := c.Instances("web"); !reflect.DeepEqual(got, []string{"web@1", "web@2", "web@3"}) {
		t.Errorf("instances = %v", got)
	}
	// Different instances, different hashes; the same file, the same.
	if c.Workers["web@1"].Hash == c.Workers["web@2"].Hash {
		t.Error("two instances hash alike")
	}
}

func TestInstancesOrdersByNumber(t *testing.T) {
	c := mustParse(t, lines(`[worker.w]`, `instances = 12`, `command = ["/bin/w"]`))
	if got := c.Instances("w"); len(got) != 12 || got[1] != "w@2" || got[11] != "w@12" {
		t.Errorf("instances = %v", got)
	}
	z := mustParse(t, lines(`[worker.w]`, `instances = 0`, `command = ["/bin/w"]`))
	if len(z.Order) != 0 || z.Templates["w"] == nil {
		t.Errorf("instances = 0: order %v templates %v", z.Order, z.Templates)
	}
}

// TestInstancesErrorsOnceAtTheTemplate: a problem of the template is
// reported once, at its key and line, whatever the count.
func TestInstancesErrorsOnceAtTheTemplate(t *testing.T) {
	_, err := parseString(t, lines(
		`[worker.web]`,                    // 1
		`instances = 4`,                   // 2
		`command = ["/bin/web"]`,          // 3
		`stop_timeout = "forever"`,        // 4
		`stdout = "/var/log/web.out"`,     // 5
		`depends_on = { nope = "ready" }`, // 6
		`[worker.app]`,                    // 7
		`command = ["/bin/app"]`,          // 8
		`depends_on = { web = "ready" }`,  // 9
		`[worker.bad]`,                    // 10
		`instances = 1001`,                // 11
		`command = ["/bin/bad"]`,          // 12
		`[worker.odd]`,                    // 13
		`instances = "2"`,                 // 14
		`command = ["/bin/odd"]`,          // 15
	))
	got := configErrors(t, err)
	want := []string{
		`tend.toml:4: worker.web.stop_timeout: invalid duration`,
		`tend.toml:5: worker.web.stdout: every instance would write to the same file: put {instance} in it`,
		`tend.toml:6: worker.web.depends_on.nope: no such worker`,
		`tend.toml:9: worker.app.depends_on.web: web has instances: depend on one of them (web@1)`,
		`tend.toml:11: worker.bad.instances: must be from 0 to 1000`,
		`tend.toml:14: worker.odd.instances: expected an integer, got a string`,
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

func TestWithInstances(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "w.env"), "A=1\n")
	path := writeFile(t, filepath.Join(dir, "tend.toml"), lines(
		`[daemon]`, `state_dir = "state"`,
		`[worker.web]`, `instances = 2`, `command = ["/bin/web", "{instance}"]`, `env_file = "w.env"`,
		`[worker.db]`, `command = ["/bin/db"]`,
	))
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	up, err := c.WithInstances(map[string]int{"web": 4})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(up.Order, []string{"db", "web@1", "web@2", "web@3", "web@4"}) || len(c.Order) != 3 {
		t.Fatalf("order = %v (was %v)", up.Order, c.Order)
	}
	if up.Workers["web@1"] != c.Workers["web@1"] {
		t.Error("an instance that existed was decoded again")
	}
	if w := up.Workers["web@4"]; w.Command[1] != "4" || len(w.EnvFileSums) != 1 || w.Hash == "" {
		t.Errorf("web@4 = %+v", w)
	}
	if _, _, changed := Diff(c, up); changed != nil {
		t.Errorf("scaling changed %v", changed)
	}
	down, err := up.WithInstances(map[string]int{"web": 1})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(down.Order, []string{"db", "web@1"}) {
		t.Errorf("order = %v", down.Order)
	}
	if _, err := c.WithInstances(map[string]int{"db": 2}); err == nil {
		t.Error("scaled a worker without instances")
	}
	if _, err := c.WithInstances(map[string]int{"web": MaxInstances + 1}); err == nil {
		t.Error("scaled past the bound")
	}
}
