package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/query"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/store"
)

// The golden log is a log written by an earlier tend (the commit named in
// testdata/golden/README), driven through a scenario that produces every
// event type that tend emitted then. It never changes: it stands for the
// logs users already have. Every later tend must replay it to the same
// states, give the same `why` answers and the same report, whatever it
// changes in the fold.
//
// To regenerate it (only when starting a new golden log for a new format,
// never to make a failing test pass):
//
//	TEND_GOLDEN_WRITE=1 go test ./cmd/tendd/ -run TestGoldenLogWrite -v
const goldenDir = "testdata/golden"

// goldenWorkers are the workers of the golden scenario, in order.
var goldenWorkers = []string{"broken", "crashy", "forker", "gone", "hog", "late", "stubborn", "survivor", "victim", "web"}

// TestGoldenLogReplays replays the golden log and compares every seq's
// states, every worker's `why` and the report with what the tend that
// wrote it said.
func TestGoldenLogReplays(t *testing.T) {
	db := copyGolden(t)
	want, err := os.ReadFile(filepath.Join(goldenDir, "replay.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	got := goldenReplay(t, db)
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("replay differs at line %d (seq %d):\n got  %s\n want %s", i+1, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("replay has %d lines, want %d", len(gl), len(wl))
	}
	for _, name := range goldenWorkers {
		want, err := os.ReadFile(filepath.Join(goldenDir, "why", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if got := goldenWhy(t, db, name); !bytes.Equal(got, want) {
			t.Errorf("why %s:\n got  %s\n want %s", name, got, want)
		}
	}
	want, err = os.ReadFile(filepath.Join(goldenDir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	got = goldenReport(t, db)
	// Event types are appended to the vocabulary, never renumbered, so the
	// report's list of them may only have grown at its end.
	gt, wt := reportTypes.FindSubmatch(got), reportTypes.FindSubmatch(want)
	if gt == nil || wt == nil || !bytes.HasPrefix(gt[1], bytes.TrimSuffix(wt[1], []byte("]"))) {
		t.Errorf("the report's event types are not the golden ones with new ones appended:\n got  %s\n want %s", gt, wt)
	} else {
		got = bytes.Replace(got, gt[0], wt[0], 1)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report differs from %s/report.html", goldenDir)
	}
}

func copyGolden(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, "v1.tend"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "golden.tend")
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return db
}

// goldenReplay is the states after every seq, one JSON line each, as
// `tend replay --seq N -o json` prints them.
func goldenReplay(t *testing.T, db string) []byte {
	t.Helper()
	l, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out bytes.Buffer
	for seq := events.Seq(1); seq <= l.LastSeq(); seq++ {
		res, err := query.ReplayAt(l, "", fmt.Sprint(seq))
		if err != nil {
			t.Fatalf("replay to seq %d: %v", seq, err)
		}
		line, err := json.Marshal(struct {
			Seq     events.Seq            `json:"seq"`
			Workers []client.WorkerStatus `json:"workers"`
		}{res.Seq, res.Workers})
		if err != nil {
			t.Fatal(err)
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// goldenCLI runs the CLI offline on db, in UTC so answers do not depend on
// the machine's zone.
func goldenCLI(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tendBin, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tend %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

func goldenWhy(t *testing.T, db, name string) []byte {
	return goldenCLI(t, "why", name, "--db", db, "-o", "json")
}

// goldenReport is the report's page with the two things that differ
// between runs taken out: the log's path and when it was generated. The
// title defaults to the path, so the title goes too.
func goldenReport(t *testing.T, db string) []byte {
	t.Helper()
	html := filepath.Join(t.TempDir(), "report.html")
	goldenCLI(t, "report", "--db", db, "-o", html)
	b, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte(db), []byte("LOG"))
	return reportGenerated.ReplaceAll(b, []byte("generated GENERATED"))
}

var reportTypes = regexp.MustCompile(`"types":(\[[^\]]*\])`)

var reportGenerated = regexp.MustCompile(`generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC`)

// TestGoldenLogWrite runs the scenario with the real daemon and writes the
// golden files. It runs only when asked (TEND_GOLDEN_WRITE=1).
func TestGoldenLogWrite(t *testing.T) {
	if os.Getenv("TEND_GOLDEN_WRITE") != "1" {
		t.Skip("writes testdata/golden: set TEND_GOLDEN_WRITE=1")
	}
	e := newEnv(t, "")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	healthy, healthy2 := filepath.Join(e.dir, "healthy"), filepath.Join(e.dir, "healthy2")
	must(os.WriteFile(healthy, nil, 0o644))
	must(os.WriteFile(healthy2, nil, 0o644))
	conf := func(v2 bool) string {
		var b strings.Builder
		fmt.Fprintf(&b, "[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\nsample_interval = \"200ms\"\nsocket_group = \"daemon\"\n\n")
		w := func(name, body string) { fmt.Fprintf(&b, "[worker.%s]\n%s\n\n", name, body) }
		webEnv := ""
		if v2 {
			webEnv = "env = { MODE = \"two\" }\n"
		}
		w("web", "command = "+helperCmd("hang")+"\nstart_timeout = \"200ms\"\n"+webEnv+
			"[worker.web.health]\ntype = \"exec\"\ncommand = [\"sh\", \"-c\", \"test -e "+healthy+"\"]\ninterval = \"200ms\"\ntimeout = \"1s\"\nfailures = 2")
		w("crashy", "command = "+helperCmd("crash-after", "150ms", "3")+"\nrestart = \"always\"\nstart_timeout = \"100ms\"\n"+
			"backoff_initial = \"100ms\"\nbackoff_max = \"200ms\"\ncircuit_max_restarts = 2\ncircuit_window = \"1m\"")
		w("stubborn", "command = "+helperCmd("ignore-sigterm")+"\nstart_timeout = \"100ms\"\nstop_timeout = \"1500ms\"\n"+
			"[worker.stubborn.health]\ntype = \"exec\"\ncommand = [\"sh\", \"-c\", \"test -e "+healthy2+"\"]\ninterval = \"50ms\"\ntimeout = \"1s\"\nfailures = 1")
		w("hog", "command = "+helperCmd("alloc", "8")+"\nstart_timeout = \"100ms\"\n"+
			"[worker.hog.limits]\nmemory = \"1MiB\"\nsustained = \"0s\"\nmemory_policy = \"restart\"")
		w("broken", "command = [\"/nonexistent/tend-golden\"]\nrestart = \"never\"")
		w("forker", "command = "+helperCmd("escape")+"\nstart_timeout = \"100ms\"\nstop_timeout = \"1s\"")
		w("survivor", "command = "+helperCmd("hang")+"\nstart_timeout = \"100ms\"")
		w("victim", "command = "+helperCmd("hang")+"\nstart_timeout = \"100ms\"\nrestart = \"never\"")
		if v2 {
			w("late", "command = "+helperCmd("hang")+"\nstart_timeout = \"100ms\"")
		} else {
			w("gone", "command = "+helperCmd("hang")+"\nstart_timeout = \"100ms\"")
		}
		return b.String()
	}
	e.write(conf(false))
	e.startDaemon()
	st := func(name string) client.WorkerStatus { return e.status()[name] }
	e.waitStatus("web", "running", running)
	e.waitStatus("crashy", "breaker open", func(w client.WorkerStatus) bool { return w.BreakerOpen })
	e.waitStatus("broken", "stopped after its failed spawn", func(w client.WorkerStatus) bool { return w.LastExit != nil })
	e.waitStatus("hog", "restarted by its limit", func(w client.WorkerStatus) bool { return w.Restarts > 0 })
	e.mustTend("stop", "hog")
	// The breaker closes when an operator starts the worker again; it then
	// crashes and restarts, and the operator stops it for good.
	e.mustTend("start", "crashy", "--no-wait")
	e.waitStatus("crashy", "restarted", func(w client.WorkerStatus) bool { return w.Restarts > 0 })
	e.mustTend("stop", "crashy")
	// Health fails, restarts web, then passes again.
	must(os.Remove(healthy))
	e.waitStatus("web", "restarted by its health check", func(w client.WorkerStatus) bool { return w.Restarts > 0 })
	must(os.WriteFile(healthy, nil, 0o644))
	e.waitStatus("web", "healthy", func(w client.WorkerStatus) bool { return w.State == "Running" && w.Health == "" })
	// stubborn's health check fails, which asks for a restart; it ignores
	// SIGTERM, and passes again while it waits for its SIGKILL.
	e.waitStatus("stubborn", "running", running)
	must(os.Remove(healthy2))
	e.waitStatus("stubborn", "stopping for its health", func(w client.WorkerStatus) bool { return w.State == "Stopping" })
	must(os.WriteFile(healthy2, nil, 0o644))
	e.waitStatus("stubborn", "restarted", func(w client.WorkerStatus) bool { return w.State == "Running" && w.Incarnation >= 2 })
	// SIGTERM ignored: SIGKILL after the stop timeout, then Killed.
	e.mustTend("stop", "stubborn")
	// A grandchild outside the group is found and killed on stop.
	e.waitStatus("forker", "running", running)
	e.mustTend("stop", "forker")
	// A client that is not allowed is refused, and that is recorded.
	goldenRefused(t, e)
	// A reload adds late, removes gone and changes web.
	e.write(conf(true))
	e.mustTend("reload")
	e.waitStatus("late", "running", running)
	e.waitStatus("web", "running again", func(w client.WorkerStatus) bool { return w.State == "Running" && w.Incarnation >= 3 })
	// The daemon dies; victim dies while it is down; survivor lives on.
	e.waitStatus("survivor", "running", running)
	victim := st("victim").PID
	e.killDaemon()
	must(syscall.Kill(victim, syscall.SIGKILL))
	time.Sleep(200 * time.Millisecond)
	e.startDaemon()
	e.waitStatus("victim", "lost", func(w client.WorkerStatus) bool { return w.LastExit != nil && w.State == "Stopped" })
	e.waitStatus("survivor", "adopted", running)
	e.stopDaemon()

	// Keep the log and what this tend says of it.
	must(os.RemoveAll(goldenDir))
	must(os.MkdirAll(filepath.Join(goldenDir, "why"), 0o755))
	b, err := os.ReadFile(e.db())
	must(err)
	must(os.WriteFile(filepath.Join(goldenDir, "v1.tend"), b, 0o644))
	db := copyGolden(t)
	must(os.WriteFile(filepath.Join(goldenDir, "replay.jsonl"), goldenReplay(t, db), 0o644))
	for _, name := range goldenWorkers {
		must(os.WriteFile(filepath.Join(goldenDir, "why", name+".json"), goldenWhy(t, db, name), 0o644))
	}
	must(os.WriteFile(filepath.Join(goldenDir, "report.html"), goldenReport(t, db), 0o644))
	rev, _ := exec.Command("git", "rev-parse", "HEAD").Output()
	must(os.WriteFile(filepath.Join(goldenDir, "README"), []byte(fmt.Sprintf(
		"Written by tend at commit %s with\n\n\tTEND_GOLDEN_WRITE=1 go test ./cmd/tendd/ -run TestGoldenLogWrite -v\n\n"+
			"v1.tend is the log; replay.jsonl, why/ and report.html are what that tend said of it.\n"+
			"Never regenerate them to make a test pass: they stand for the logs users already have.\n",
		strings.TrimSpace(string(rev)))), 0o644))

	// Every type this tend emits is in it.
	l, err := store.Open(db, store.Options{ReadOnly: true})
	must(err)
	defer l.Close()
	seen := map[events.Type]int{}
	must(l.Scan(1, l.LastSeq(), func(e *events.Event) error { seen[e.Type]++; return nil }))
	var missing []string
	for _, typ := range events.Types() {
		if seen[typ] == 0 {
			missing = append(missing, typ.String())
		}
	}
	sort.Strings(missing)
	t.Logf("golden log: %d events; types never emitted: %v", l.LastSeq(), missing)
	if len(missing) > 1 || len(missing) == 1 && missing[0] != "restart_cancelled" {
		t.Errorf("the scenario misses event types: %v", missing)
	}
}

// goldenRefused connects as nobody to a socket left reachable by mistake.
func goldenRefused(t *testing.T, e *env) {
	t.Helper()
	for _, p := range []string{filepath.Dir(e.dir), e.dir, filepath.Join(e.dir, "state")} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(e.socket(), 0o666); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tendBin, "--socket", e.socket(), "status")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("nobody was let in: %s", out)
	}
}
