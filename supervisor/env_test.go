package supervisor

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/supervisor/envfile"
	"github.com/tendhq/tend/supervisor/proc"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

func TestWorkerEnv(t *testing.T) {
	base := []string{"PATH=/daemon/bin", "HOME=/root", "USER=root", "TERM=xterm", "HOME=/root2", "ODD"}
	login := map[string]string{"HOME": "/nonexistent", "USER": "nobody", "LOGNAME": "nobody", "SHELL": "/usr/sbin/nologin"}
	for _, tc := range []struct {
		name string
		spec WorkerSpec
		want []string
	}{
		{"the daemon's environment passes", WorkerSpec{},
			[]string{"PATH=/daemon/bin", "HOME=/root2", "USER=root", "TERM=xterm", "ODD"}},
		{"the configured env wins, in place", WorkerSpec{Env: map[string]string{"TERM": "dumb", "A": "1"}},
			[]string{"PATH=/daemon/bin", "HOME=/root2", "USER=root", "TERM=dumb", "ODD", "A=1"}},
		{"the user's login variables replace the daemon's", WorkerSpec{UserEnv: login},
			[]string{"PATH=/daemon/bin", "HOME=/nonexistent", "USER=nobody", "TERM=xterm", "ODD", "LOGNAME=nobody", "SHELL=/usr/sbin/nologin"}},
		{"and the configured env wins over them", WorkerSpec{UserEnv: login, Env: map[string]string{"HOME": "/srv/app"}},
			[]string{"PATH=/daemon/bin", "HOME=/srv/app", "USER=nobody", "TERM=xterm", "ODD", "LOGNAME=nobody", "SHELL=/usr/sbin/nologin"}},
		{"clear_env keeps none of the daemon's", WorkerSpec{ClearEnv: true},
			[]string{"PATH=" + DefaultPath}},
		{"clear_env with a user and an env", WorkerSpec{ClearEnv: true, UserEnv: login, Env: map[string]string{"PATH": "/opt/bin", "A": "1"}},
			[]string{"PATH=/opt/bin", "HOME=/nonexistent", "LOGNAME=nobody", "SHELL=/usr/sbin/nologin", "USER=nobody", "A=1"}},
	} {
		if got := workerEnv(base, &tc.spec); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// The spec's environment and confinement reach the real process: what
// the daemon composes is what the worker has.
func TestSpawnAppliesEnvAndConfinement(t *testing.T) {
	out := t.TempDir() + "/env.out"
	w := spec("w", proctest.Command("print-env"))
	w.Stdout = out
	w.ClearEnv = true
	w.UserEnv = map[string]string{"HOME": "/nonexistent", "USER": "nobody"}
	w.Env = map[string]string{"HOME": "/srv"}
	m := uint32(0o077)
	w.Umask, w.NoNewPrivs = &m, true
	w.Rlimits = []proc.Rlimit{{Resource: unix.RLIMIT_CORE, Cur: 0, Max: 0}}
	r := newRig(t, w)
	pid := r.waitState("w", events.Running).PID
	var env []string
	for deadline := time.Now().Add(15 * time.Second); env == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(out); bytes.HasSuffix(b, []byte("\nready\n")) {
			env = strings.Split(strings.TrimSuffix(string(b), "\nready\n"), "\n")
		}
	}
	want := []string{"PATH=" + DefaultPath, "HOME=/srv", "USER=nobody", "TEND_INSTANCE=" + r.dir + "/tend.db",
		"TEND_WORKER=w", "TEND_INCARNATION=1"}
	if !slices.Equal(env, want) {
		t.Errorf("environment %q, want %q", env, want)
	}
	status, _ := os.ReadFile("/proc/" + itoa(pid) + "/status")
	if !bytes.Contains(status, []byte("\nUmask:\t0077\n")) || !bytes.Contains(status, []byte("\nNoNewPrivs:\t1\n")) {
		t.Errorf("status:\n%s", status)
	}
}

// TestSpawnEnvReadsEnvFiles: env files are read at the spawn, win over the
// configured env, and the spawned event learns their names only; a file
// that fails fails the spawn with its path and line, never a value.
func TestSpawnEnvReadsEnvFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := dir+"/a.env", dir+"/b.env"
	os.WriteFile(a, []byte("MODE=from-file\nTOKEN='t0k3n'\n"), 0o600)
	w := &WorkerSpec{Env: map[string]string{"MODE": "prod", "A": "1"},
		EnvFiles: []envfile.File{{Path: a}, {Path: b, Optional: true}}}
	env, names, err := spawnEnv([]string{"PATH=/bin"}, w)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"PATH=/bin", "A=1", "MODE=from-file", "TOKEN=t0k3n"}; !slices.Equal(env, want) {
		t.Errorf("env %q, want %q", env, want)
	}
	if want := []string{"A", "MODE", "TOKEN"}; !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
	// Read again at the next spawn: the optional file has appeared.
	os.WriteFile(b, []byte("TOKEN=newer\n"), 0o600)
	if env, _, _ := spawnEnv(nil, w); !slices.Contains(env, "TOKEN=newer") {
		t.Errorf("the second spawn did not read the files again: %q", env)
	}
	os.WriteFile(b, []byte("TOKEN newer-secret\n"), 0o600)
	_, _, err = spawnEnv(nil, w)
	if err == nil || !strings.Contains(err.Error(), b+":1: not an assignment") || strings.Contains(err.Error(), "newer-secret") {
		t.Errorf("err = %v", err)
	}
}
