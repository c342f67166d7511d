package importer

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/config"
)

func convertFile(t *testing.T, path string) (*config.Config, string, []Warning) {
	t.Helper()
	out, ws, err := Convert(path)
	if err != nil {
		t.Fatalf("Convert(%s): %v", path, err)
	}
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "tend.toml"), out)
	if err != nil {
		t.Fatalf("output of %s does not load: %v\n%s", path, err, out)
	}
	return cfg, string(out), ws
}

func hasWarning(ws []Warning, file string, line int, substr string) bool {
	for _, w := range ws {
		if w.File == file && w.Line == line && strings.Contains(w.Msg, substr) {
			return true
		}
	}
	return false
}

// Every fixture, including Debian's shipped configurations, must convert
// to something tend loads.
func TestEveryFixtureLoads(t *testing.T) {
	t.Setenv("TEND_IMPORT_TEST_HOME", "/home/t")
	files, _ := filepath.Glob("testdata/*.conf")
	if len(files) < 4 {
		t.Fatalf("fixtures missing: %v", files)
	}
	for _, f := range files {
		if strings.Contains(f, "broken") || strings.Contains(f, "nosection") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, out, _ := convertFile(t, f)
			if !strings.HasPrefix(out, "# tend configuration converted from ") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], filepath.Base(f)) {
				t.Errorf("header does not name the source:\n%s", out)
			}
		})
	}
}

func TestDebianSample(t *testing.T) {
	cfg, _, ws := convertFile(t, "testdata/debian-sample-uncommented.conf")
	w := cfg.Workers["theprogramname"]
	if w == nil {
		t.Fatalf("workers: %v", cfg.Order)
	}
	if !reflect.DeepEqual(w.Command, []string{"/bin/cat"}) || w.Dir != "/tmp" || w.User != "chrism" ||
		w.StopSignal != syscall.SIGQUIT || w.Stdout != "/a/path" || w.Stderr != "/a/path" ||
		w.LogMaxSize != 1<<20 || w.LogBackups != 10 || w.Policy.BreakerMax != 3 ||
		!reflect.DeepEqual(w.Env, map[string]string{"A": "1", "B": "2"}) || w.Umask != 0o22 {
		t.Errorf("theprogramname = %+v", w)
	}
	f := "testdata/debian-sample-uncommented.conf"
	for _, want := range []struct {
		line int
		msg  string
	}{
		{39, "[inet_http_server] has no tend equivalent"},
		{123, "[eventlistener:theeventlistenername] has no tend equivalent"},
		{160, `names unknown program "progname1"`},
		{170, "no file matches include"},
	} {
		if !hasWarning(ws, f, want.line, want.msg) {
			t.Errorf("no warning %s:%d: %s in %v", f, want.line, want.msg, ws)
		}
	}
	// The untouched Debian files have no programs: nothing but warnings.
	cfg, _, ws = convertFile(t, "testdata/debian-sample.conf")
	if len(cfg.Workers) != 0 || !hasWarning(ws, "testdata/debian-sample.conf", 44, "[supervisord]") {
		t.Errorf("sample.conf: workers %v, warnings %v", cfg.Order, ws)
	}
	cfg, _, ws = convertFile(t, "testdata/debian-supervisord.conf")
	if len(cfg.Workers) != 0 || !hasWarning(ws, "testdata/debian-supervisord.conf", 3, "[unix_http_server]") {
		t.Errorf("supervisord.conf: workers %v, warnings %v", cfg.Order, ws)
	}
}

func TestFullConf(t *testing.T) {
	t.Setenv("TEND_IMPORT_TEST_HOME", "/home/t")
	host, _ := os.Hostname()
	cfg, out, ws := convertFile(t, "testdata/full.conf")
	here, _ := filepath.Abs("testdata")
	want := []string{"auto", "included", "nested", "queue_01", "queue_02", "queue_03", "quiet", "web"}
	if !reflect.DeepEqual(cfg.Order, want) {
		t.Fatalf("workers %v, want %v", cfg.Order, want)
	}
	web := cfg.Workers["web"]
	if !reflect.DeepEqual(web.Command, []string{"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "8080"}) ||
		web.Dir != here+"/www" || web.User != "www-data" || web.Autostart || web.Policy.Restart != "always" ||
		web.StartTimeout != 5*time.Second || web.Policy.BreakerMax != 7 || web.Policy.BreakerWindow < 60*time.Second ||
		web.StopSignal != syscall.SIGINT || web.StopTimeout != 30*time.Second ||
		web.Stdout != "/var/log/web/web.out" || web.Stderr != "/var/log/web/web.err" ||
		web.LogMaxSize != 20<<20 || web.LogBackups != 4 ||
		!reflect.DeepEqual(web.Env, map[string]string{"PORT": "8080", "MODE": "production", "PATH": "/usr/bin:/bin", "GREETING": "hello, world"}) ||
		web.Umask != 0o22 {
		t.Errorf("web = %+v", web)
	}
	if w := cfg.Workers["auto"]; w.Umask != -1 {
		t.Errorf("auto: umask %o without one in supervisord's file", w.Umask)
	}
	q := cfg.Workers["queue_02"]
	if !reflect.DeepEqual(q.Command, []string{"/usr/local/bin/worker", "--id", "2", "--of", "3", "--group", "backend", "--host", host}) ||
		q.Policy.Restart != "on-failure" || q.StopSignal != syscall.SIGWINCH ||
		q.Stdout != "/var/log/queue-2.log" || q.Stderr != q.Stdout || q.LogMaxSize != 0 {
		t.Errorf("queue_02 = %+v", q)
	}
	quiet := cfg.Workers["quiet"]
	if !reflect.DeepEqual(quiet.Command, []string{"/opt/my app/bin/run", "--name", "its", `say "hi"`, "back slash"}) ||
		quiet.Policy.Restart != "never" || quiet.Stdout != "/dev/null" || quiet.Stderr != "/dev/null" ||
		quiet.Dir != "/home/t" || quiet.Env["HOME_COPY"] != "/home/t" {
		t.Errorf("quiet = %+v", quiet)
	}
	auto := cfg.Workers["auto"]
	if auto.Stdout != auto.Stderr || auto.StopSignal != syscall.SIGKILL {
		t.Errorf("auto = %+v", auto)
	}
	inc := cfg.Workers["included"]
	if inc.Command[0] != here+"/conf.d/run.sh" || inc.Stdout != here+"/conf.d/included.log" {
		t.Errorf("%%(here)s in an included file: %+v", inc)
	}
	if _, ok := cfg.Workers["hidden"]; ok {
		t.Error("a dot file matched a * include, which Python's glob never does")
	}

	// Priority order survives as the order of tables: group backend (1),
	// then web (10), then the default 999s.
	iq, iw, ia := strings.Index(out, "[worker.queue_01]"), strings.Index(out, "[worker.web]"), strings.Index(out, "[worker.auto]")
	if !(iq < iw && iw < ia) {
		t.Errorf("tables not in priority order:\n%s", out)
	}
	g := Groups([]byte(out))
	if g["queue_01"] != "backend" || g["quiet"] != "backend" || g["web"] != "web" || len(g) != len(want) {
		t.Errorf("Groups = %v", g)
	}

	f := "testdata/full.conf"
	for _, w := range []struct {
		file string
		line int
		msg  string
	}{
		{f, 8, "[inet_http_server] has no tend equivalent"},
		{f, 31, "priority has no tend equivalent"},
		{f, 33, "frobnicate: not a supervisord program option"},
		{f, 41, "tend treats only exit code 0 as success"},
		{f, 55, "stopasgroup = false"},
		{f, 63, `names unknown program "missing"`},
		{f, 66, "[eventlistener:crashmail] has no tend equivalent"},
		{f, 70, "[fcgi-program:php] has no tend equivalent"},
		{"testdata/conf.d/a.conf", 6, "[include] inside an included file"},
		{"testdata/nested/loop.ini", 5, "include cycle full.conf -> conf.d"[:20]},
	} {
		if !hasWarning(ws, w.file, w.line, w.msg) {
			t.Errorf("missing warning %s:%d: %s", w.file, w.line, w.msg)
		}
	}
	n := 0
	for _, w := range ws {
		if strings.Contains(w.Msg, "exitcodes") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("exitcodes warned %d times, want once for numprocs = 3", n)
	}
}

func TestFatalErrorsNameFileAndLine(t *testing.T) {
	for file, want := range map[string]string{
		"testdata/broken.conf":    "testdata/broken.conf:3: ",
		"testdata/nosection.conf": "testdata/nosection.conf:1: ",
	} {
		_, _, err := Convert(file)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Convert(%s) = %v, want prefix %q", file, err, want)
		}
	}
	if _, _, err := Convert("testdata/does-not-exist.conf"); err == nil {
		t.Error("missing file converted")
	}
}

func TestINIDialect(t *testing.T) {
	// Expected values are what Python's configparser, configured as
	// supervisord configures it, returns for the same text.
	in := newINI()
	err := in.parse("x.conf", []byte("[s]\na = x;y ; c\nB = 1#2 # c\nc = one\n  two\n\n  three\n  ; comment\n d = inline\n[s]\na = again\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for k, o := range in.sections["s"].opts {
		got[k] = o.value
	}
	want := map[string]string{"a": "again", "b": "1#2", "c": "one\ntwo\n\nthree\nd = inline"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if o := in.sections["s"].opts["a"]; o.line != 11 {
		t.Errorf("a defined on line %d, want 11", o.line)
	}
	// Section names keep their case; [S] is another section.
	in = newINI()
	_ = in.parse("x.conf", []byte("[Program:x]\ncommand=a\n[program:x]\nCommand : b\n"))
	if len(in.sections) != 2 || in.sections["program:x"].opts["command"].value != "b" {
		t.Errorf("sections %v", in.order)
	}
}

func TestSplitCommand(t *testing.T) {
	// Expected values from Python's shlex.split.
	for in, want := range map[string][]string{
		`a "b c" d`:               {"a", "b c", "d"},
		`'it''s'`:                 {"its"},
		`x\ y "q\"z" "a\nb" '\\'`: {"x y", `q"z`, `a\nb`, `\\`},
		`a "" b`:                  {"a", "", "b"},
	} {
		got, err := splitCommand(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`"open`, `'open`, `end\`} {
		if _, err := splitCommand(bad); err == nil {
			t.Errorf("splitCommand(%q) accepted", bad)
		}
	}
}

func TestParseEnvironment(t *testing.T) {
	// Expected values from supervisor.datatypes.dict_of_key_value_pairs.
	for in, want := range map[string][]envPair{
		`A=1,B=2`:                 {{"A", "1"}, {"B", "2"}},
		`A="x y",B=/usr/bin:/bin`: {{"A", "x y"}, {"B", "/usr/bin:/bin"}},
		`A=x#comment`:             {{"A", "x"}},
		`K="a,b",L='c'`:           {{"K", "a,b"}, {"L", "c"}},
		`A=$x`:                    {{"A", "$"}},
	} {
		got, err := parseEnvironment(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseEnvironment(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`A=1 B=2`, `A=b=c`, `A="open`} {
		if _, err := parseEnvironment(bad); err == nil {
			t.Errorf("parseEnvironment(%q) accepted", bad)
		}
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]any{"program_name": "web", "process_num": 7, "here": "/etc"}
	for in, want := range map[string]string{
		"%(program_name)s_%(process_num)02d": "web_07",
		"%(process_num)s%%":                  "7%",
		"%(here)s/x %(process_num)d":         "/etc/x 7",
		"%(program_name)-5s|":                "web  |",
	} {
		got, err := expand(in, vars)
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"%(nope)s", "100%", "%s", "%(program_name)d", "%(here"} {
		if _, err := expand(bad, vars); err == nil {
			t.Errorf("expand(%q) accepted", bad)
		}
	}
}

func TestNamesAndCollisions(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "s.conf")
	os.WriteFile(conf, []byte(`[program:a@b]
command=/bin/true
[program:x]
command=/bin/true
process_name=a_b
[program:multi]
command=/bin/true
numprocs=2
[program:bad env]
command=/bin/true
[program:strange]
command=/bin/true
startretries=0
stopsignal=NOPE
autostart=perhaps
`), 0o644)
	out, ws, err := Convert(conf)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(dir, "tend.toml"), out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, ok := cfg.Workers["a_b"]; !ok {
		t.Errorf("a@b not renamed a_b: %v", cfg.Order)
	}
	if _, ok := cfg.Workers["x.a_b"]; !ok {
		t.Errorf("collision not renamed group.name: %v", cfg.Order)
	}
	if cfg.Workers["strange"].Policy.BreakerMax != 1 {
		t.Errorf("startretries=0: %+v", cfg.Workers["strange"])
	}
	for line, msg := range map[int]string{1: "tend worker names use only", 3: "already used", 6: "no %(process_num)",
		9: "invalid program name", 13: "startretries = 0", 14: "is not a signal", 15: "is not a boolean"} {
		if !hasWarning(ws, conf, line, msg) {
			t.Errorf("missing warning line %d %q in %v", line, msg, ws)
		}
	}
}

func TestGroupsParsesQuoting(t *testing.T) {
	g := Groups([]byte("# supervisord: worker=\"a b\\\"c\" group=\"g 1\" priority=3\n[worker.x]\n# supervisord: broken\n"))
	if !reflect.DeepEqual(g, map[string]string{`a b"c`: "g 1"}) {
		t.Errorf("Groups = %q", g)
	}
}

// A value the importer cannot expand is named by its option and line, never
// repeated: an environment line is where secrets live.
func TestWarningsDoNotRepeatValues(t *testing.T) {
	const secret = "hunter2-very-secret"
	path := filepath.Join(t.TempDir(), "supervisord.conf")
	conf := "[program:web]\ncommand = /bin/web\n" +
		"environment = TOKEN=\"" + secret + "%(nope)s\"\n" +
		"directory = /srv/" + secret + "%(\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, ws := convertFile(t, path)
	if !hasWarning(ws, path, 3, "environment") || !hasWarning(ws, path, 4, "directory") {
		t.Fatalf("warnings do not name the options: %+v", ws)
	}
	for _, w := range ws {
		if strings.Contains(w.Msg, secret) {
			t.Errorf("warning repeats the value: %s", w.Msg)
		}
	}
}

// supervisord takes numbers tend bounds: the conversion caps them, says
// so, and still loads.
func TestValuesPastTendsBoundsAreCapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "supervisord.conf")
	conf := "[program:web]\ncommand = /bin/web\nstartsecs = 100000\nstopwaitsecs = 999999\nstartretries = 3\n" +
		"stdout_logfile = /var/log/web.log\nstdout_logfile_maxbytes = 999999999MB\nstdout_logfile_backups = 100000\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, ws := convertFile(t, path)
	w := cfg.Workers["web"]
	if w.StartTimeout != config.MaxStartTimeout || w.StopTimeout != config.MaxStopTimeout ||
		w.LogMaxSize != config.MaxLogMaxSize || w.LogBackups != config.MaxLogBackups {
		t.Fatalf("not capped: %+v", w)
	}
	for _, want := range []string{"startsecs", "stopwaitsecs", "maxbytes", "backups"} {
		found := false
		for _, x := range ws {
			found = found || strings.Contains(x.Msg, want) && strings.Contains(x.Msg, "capped")
		}
		if !found {
			t.Errorf("no warning that %s was capped: %+v", want, ws)
		}
	}
}

// supervisord's umask becomes the worker's; one that is not an octal mask
// is reported and left out.
func TestUmask(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.conf")
	conf := "[program:a]\ncommand = /bin/a\numask = 0o027\n\n[program:b]\ncommand = /bin/b\numask = 089\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, ws := convertFile(t, path)
	if a, b := cfg.Workers["a"], cfg.Workers["b"]; a.Umask != 0o27 || b.Umask != -1 {
		t.Errorf("umask a %o, b %d", a.Umask, b.Umask)
	}
	if !hasWarning(ws, path, 7, `umask "089" is not an octal mask`) {
		t.Errorf("no warning for b's umask: %v", ws)
	}
}

// TestNumprocsAsInstances: with Instances, a program whose processes
// differ only by their number becomes one worker with instances, and
// {instance} stands where %(process_num) was; one whose processes differ
// otherwise (a zero-padded number) stays one worker per process.
func TestNumprocsAsInstances(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "s.conf")
	os.WriteFile(conf, []byte(`[program:web]
command=/bin/web --port=80%(process_num)d --of %(numprocs)d
process_name=%(program_name)s_%(process_num)d
numprocs=3
stdout_logfile=/var/log/web-%(process_num)s.log
[program:one]
command=/bin/one --id %(process_num)s
process_name=one_%(process_num)s
numprocs=2
numprocs_start=1
[program:padded]
command=/bin/p --id %(process_num)02d
process_name=p_%(process_num)02d
numprocs=2
[program:shared]
command=/bin/s
process_name=s_%(process_num)d
numprocs=2
stdout_logfile=/var/log/shared.log
`), 0o644)
	out, ws, err := ConvertWith(conf, Options{Instances: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(dir, "tend.toml"), out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []string{"one@1", "one@2", "p_00", "p_01", "s_0", "s_1", "web@1", "web@2", "web@3"}
	if !reflect.DeepEqual(cfg.Order, want) {
		t.Fatalf("workers %v, want %v:\n%s", cfg.Order, want, out)
	}
	if got := cfg.Workers["web@2"].Command; !reflect.DeepEqual(got, []string{"/bin/web", "--port=801", "--of", "3"}) {
		t.Errorf("web@2 command = %q", got)
	}
	if got := cfg.Workers["web@3"].Stdout; got != "/var/log/web-2.log" {
		t.Errorf("web@3 stdout = %s", got)
	}
	if got := cfg.Workers["one@2"].Command; !reflect.DeepEqual(got, []string{"/bin/one", "--id", "2"}) {
		t.Errorf("one@2 command = %q", got)
	}
	if !bytes.Contains(out, []byte("instances = 3\n")) || !bytes.Contains(out, []byte(`"--port=80{instance-1}"`)) {
		t.Errorf("output:\n%s", out)
	}
	if !hasWarning(ws, conf, 1, "web@1 … web@3 in tend (web_0 … web_2 in supervisord)") {
		t.Errorf("no warning of the new names: %v", ws)
	}
	// Without the option, nothing changes.
	plain, _, err := Convert(conf)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(plain, []byte("instances")) {
		t.Errorf("instances without the option:\n%s", plain)
	}
}
