package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
)

var relayLine = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) #(\d+) seq (\d{9}) the quick brown fox jumps over the lazy dog$`)

// readRelayed returns the seq numbers of every line in path and its
// backups, oldest file first, checking that each line is whole and
// stamped, and that no file holds more than max bytes.
func readRelayed(t *testing.T, path string, max int64) []int {
	t.Helper()
	files, _ := filepath.Glob(path + ".*")
	sort.Slice(files, func(i, j int) bool { return backupIndex(files[i]) > backupIndex(files[j]) })
	files = append(files, path)
	var seqs []int
	for _, f := range files {
		if strings.HasSuffix(f, ".tmp") {
			t.Errorf("temporary file left: %s", f)
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = fh
		if strings.HasSuffix(f, ".gz") {
			zr, err := gzip.NewReader(fh)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			r = zr
		}
		data, err := io.ReadAll(r)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if int64(len(data)) > max {
			t.Errorf("%s holds %d bytes, over the bound %d", f, len(data), max)
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			t.Errorf("%s ends in the middle of a line", f)
		}
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		for sc.Scan() {
			m := relayLine.FindStringSubmatch(sc.Text())
			if m == nil {
				t.Fatalf("%s: torn, merged or unstamped line %q", f, sc.Text())
			}
			n, _ := strconv.Atoi(m[3])
			seqs = append(seqs, n)
		}
	}
	return seqs
}

func backupIndex(name string) int {
	name = strings.TrimSuffix(name, ".gz")
	n, _ := strconv.Atoi(name[strings.LastIndexByte(name, '.')+1:])
	return n
}

// A worker writing 20,000 lines a second through its relay while the
// daemon is SIGKILLed: the worker goes on writing (no SIGPIPE, never
// blocked), the relay goes on writing its files, the next daemon adopts
// both by the identities the log recorded, and the files hold whole,
// stamped lines in order with no gap, none over log_max_size.
func TestRelaySurvivesDaemonKill(t *testing.T) {
	const max = 64 << 10
	e := newEnv(t, fmt.Sprintf(`
[worker.spew]
command = %s
output = "relay"
stdout = "out/spew.out"
stderr = "out/spew.err"
log_max_size = "%d"
log_backups = 200
log_compress = true
start_timeout = "100ms"
`, helperCmd("spew-seq", "20000"), max))
	e.startDaemon()
	w := e.waitStatus("spew", "running", running)
	var spawned events.JSON
	for _, ev := range e.history("spew") {
		if ev.Type == "spawned" {
			spawned = ev
		}
	}
	if spawned.RelayPID == 0 || spawned.RelayTicks == 0 {
		t.Fatalf("spawned event without the relay's identity: %+v", spawned)
	}
	time.Sleep(300 * time.Millisecond)
	e.killDaemon()
	// While no daemon runs, the worker writes on through its relay.
	time.Sleep(700 * time.Millisecond)
	if s := procState(w.PID); s == 0 || s == 'Z' {
		t.Fatalf("the worker died while the daemon was down (state %q)", s)
	}
	if s := procState(spawned.RelayPID); s == 0 || s == 'Z' {
		t.Fatalf("the relay died with the daemon (state %q)", s)
	}
	e.startDaemon()
	w2 := e.waitStatus("spew", "running", running)
	if w2.PID != w.PID || w2.Incarnation != w.Incarnation {
		t.Fatalf("after the restart %+v, want the same process adopted", w2)
	}
	var adopted events.JSON
	for _, ev := range e.history("spew") {
		if ev.Type == "adopted" {
			adopted = ev
		}
	}
	if adopted.RelayPID != spawned.RelayPID {
		t.Fatalf("adopted %+v, want the relay pid %d adopted with it", adopted, spawned.RelayPID)
	}
	time.Sleep(300 * time.Millisecond)
	e.mustTend("stop", "spew")
	var exited events.JSON
	for _, ev := range e.history("spew") {
		if ev.Type == "exited" {
			exited = ev
		}
	}
	// Adopted, so its status is unknown; but it was not killed by SIGPIPE
	// (a relay that died would have done that): the relay is gone only
	// after the worker, and the worker said how much it wrote.
	if exited.Signal == "PIPE" {
		t.Fatalf("the worker died of SIGPIPE: %+v", exited)
	}
	if s := procState(spawned.RelayPID); s != 0 && s != 'Z' {
		t.Fatalf("the relay outlived the recorded end of its incarnation (state %q)", s)
	}
	errLines := readFile(t, filepath.Join(e.dir, "out", "spew.err"))
	var last int
	if _, err := fmt.Sscanf(errLines[strings.Index(errLines, " #1 ")+4:], "last %d", &last); err != nil {
		t.Fatalf("stderr file %q: %v", errLines, err)
	}
	seqs := readRelayed(t, filepath.Join(e.dir, "out", "spew.out"), max)
	if len(seqs) == 0 || seqs[len(seqs)-1] != last-1 {
		t.Fatalf("the files end at seq %v, the worker wrote %d lines", seqs[len(seqs)-1:], last)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("seq %d follows %d: lines lost or repeated", seqs[i], seqs[i-1])
		}
	}
	gz, _ := filepath.Glob(filepath.Join(e.dir, "out", "spew.out.*.gz"))
	if len(gz) == 0 {
		t.Error("no rotated file was compressed")
	}
	t.Logf("%d lines kept in %d files, the last %d", len(seqs), len(gz)+1, last)
}

// tend logs --events places the worker's spawns, exits and restarts among
// its relayed lines by time; tend report shows the last lines of stderr
// before each failure, escaped.
func TestLogsEventsAndReportTails(t *testing.T) {
	e := newEnv(t, `
[worker.flaky]
command = ["/bin/sh", "-c", "echo \"start $TEND_INCARNATION\"; printf 'boom \\033[31m%s\\n' \"$TEND_INCARNATION\" >&2; sleep 0.2; echo bye; exit 3"]
output = "relay"
stdout = "out/flaky.out"
stderr = "out/flaky.err"
restart = "on-failure"
backoff_initial = "100ms"
start_timeout = "0s"
`)
	e.startDaemon()
	e.waitStatus("flaky", "restarted twice", func(w client.WorkerStatus) bool { return w.Incarnation >= 3 })
	e.mustTend("stop", "flaky")
	out := e.mustTend("logs", "flaky", "--events", "-n", "100")
	// Each line reduced to its incarnation and its first word, or the
	// event's type.
	var order []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || len(f) < 4 && f[2] == "==" {
			t.Fatalf("line %q", line)
		}
		if f[2] == "==" {
			order = append(order, f[1]+" "+strings.TrimSuffix(f[3], ":"))
		} else {
			order = append(order, f[1]+" "+f[2])
		}
	}
	// In this order, with anything between (a first line and the spawn's
	// record race: the worker runs before its spawn is recorded).
	want := []string{"#1 start", "#1 bye", "#1 exited", "#1 restart_scheduled", "#2 start_requested",
		"#2 spawned", "#2 bye", "#2 exited", "#2 restart_scheduled", "#3 start_requested"}
	i := 0
	for _, o := range order {
		if i < len(want) && o == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("logs --events lacks %q after %v, in this order; got:\n%s", want[i], want[:i], out)
	}
	if _, errs, code := e.tend("logs", "flaky", "--events", "-f"); code != 2 {
		t.Errorf("--events with -f: exit %d %s", code, errs)
	}
	e.stopDaemon()
	html := filepath.Join(e.dir, "r.html")
	e.mustTend("report", "--db", e.db(), "-o", html)
	page := readFile(t, html)
	if !strings.Contains(page, `last lines of stderr: boom \\x1b[31m1`) {
		t.Errorf("the report does not show incarnation 1's stderr before its failure, escaped")
	}
}
