package archtest

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/tendhq/tend/"

type pkg struct {
	ImportPath string
	Standard   bool
	Doc        string
	Imports    []string
	Deps       []string
	Name       string
}

func list(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var ps []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func ours(imports []string) []string {
	var out []string
	for _, i := range imports {
		if strings.HasPrefix(i, mod) {
			out = append(out, strings.TrimPrefix(i, mod))
		}
	}
	return out
}

// allowed lists, for each package, the packages of ours it may import
// directly. Dependencies point one way: cmd → supervisor → {fsm, store,
// events, supervisor/proc, supervisor/health, supervisor/limits,
// supervisor/cgroup}; proc → proc/launch, its launcher stage,
// supervisor/logfile, supervisor/cgroup and supervisor/children; health →
// supervisor/children; fsm and store import only events; events,
// supervisor/logfile, supervisor/cgroup and supervisor/children import
// nothing of ours.
var allowed = map[string][]string{
	"events":                 {},
	"fsm":                    {"events"},
	"fsm/policy":             {},
	"store":                  {"events"},
	"supervisor/logfile":     {},
	"supervisor/proc":        {"supervisor/proc/launch", "supervisor/logfile", "supervisor/cgroup", "supervisor/children"},
	"supervisor/proc/launch": {},
	"supervisor/health":      {"supervisor/children"},
	"supervisor/limits":      {},
	"supervisor/cgroup":      {},
	"supervisor/children":    {},
	"supervisor/notify":      {},
	"supervisor/envfile":     {},
	"supervisor/console":     {},
	"supervisor/relay":       {"supervisor/logfile", "supervisor/proc", "supervisor/proc/launch", "supervisor/children"},
	"fsm/replay":             {"events", "fsm", "store"},
	"supervisor/core":        {"events", "fsm", "fsm/policy"},
	"supervisor": {"events", "fsm", "fsm/policy", "fsm/replay", "store", "supervisor/core", "supervisor/proc",
		"supervisor/health", "supervisor/limits", "supervisor/notify", "supervisor/envfile", "supervisor/console", "supervisor/relay", "supervisor/cgroup"},
}

// cmdAllowed lists, for the packages under cmd that must stay leaves of the
// adapters' ring, the packages of ours they may import directly: the door
// of the sockets knows nothing of what is behind it, the XML-RPC adapter
// acts only through the Control it is given, the configuration decodes
// into the specs of the packages that own them (which import nothing of
// ours) but reaches neither the supervisor nor the log (it reads signal
// names as the log's vocabulary, events, spells them), and the live view
// (`tend top`) is a client of the socket that knows the events' vocabulary
// and the words of `tend why` (and the one escaper), nothing more.
var cmdAllowed = map[string][]string{
	"cmd/internal/config": {"cmd/internal/config/locate", "cmd/internal/peer", "supervisor/logfile", "supervisor/health", "supervisor/limits", "supervisor/core",
		"fsm/policy", "events", "supervisor/envfile"}, // events: the types [[notify]] names
	"cmd/internal/peer": {},
	// What the lean client (cmd/tend) is made of, see TestLeanClient:
	// the locator of the config and its socket, the socket's client, and
	// the commands both binaries share.
	"cmd/internal/config/locate": {},
	"cmd/internal/client":        {"events"},
	"cmd/internal/cli":           {"cmd/internal/client", "cmd/internal/config/locate", "cmd/internal/termsafe", "events"},
	"cmd/tend":                   {"cmd/internal/cli", "cmd/internal/config/locate"},
	// The everyday commands made cobra commands, for tendd alone.
	"cmd/internal/cli/tree":           {"cmd/internal/cli"},
	"cmd/internal/supervisord/xmlrpc": {"events", "cmd/internal/peer", "cmd/internal/termsafe", "supervisor/logfile"},
	"cmd/internal/top":                {"cmd/internal/client", "cmd/internal/explain", "cmd/internal/termsafe", "events"},
	// The escaper of what a worker wrote knows nothing of tend.
	"cmd/internal/termsafe": {},
	// The stream's vocabulary and the three adapters around it: the
	// exporter and the alert sender read the log and never reach the
	// supervisor (the daemon hands the sender what it needs); the fleet
	// commands read the stream and rebuild logs through store alone.
	"cmd/internal/natsio":          {"events"},
	"cmd/internal/natsio/natstest": {},
	"cmd/internal/export":          {"cmd/internal/config", "cmd/internal/natsio", "events", "store"},
	"cmd/internal/fleet":           {"cmd/internal/natsio", "events", "fsm", "store"},
	"cmd/internal/alert":           {"cmd/internal/config", "cmd/internal/explain", "events", "fsm", "fsm/replay", "store", "supervisor/logfile", "supervisor/children"},
}

// forbidden lists third-party or standard packages a pure or leaf
// package must not reach even indirectly.
var forbidden = map[string][]string{
	"events":     {"go.etcd.io/bbolt", "os/exec", "net", "github.com/rs/zerolog"},
	"fsm":        {"go.etcd.io/bbolt", "os/exec", "net", "github.com/rs/zerolog", "github.com/shirou/gopsutil/v4/process"},
	"fsm/policy": {"os/exec", "net", "math/rand", "math/rand/v2", "github.com/rs/zerolog"},
	"store":      {"os/exec", "net", "github.com/rs/zerolog"},
	"supervisor/core": {"go.etcd.io/bbolt", "os/exec", "net", "math/rand", "math/rand/v2", "github.com/rs/zerolog",
		"github.com/shirou/gopsutil/v4/process"},
	// The console copies bytes; it logs nothing and starts nothing.
	"supervisor/console": {"os/exec", "net", "github.com/rs/zerolog"},
	// The files a worker can reach are judged by the kernel's answers
	// alone: no logging, no processes, no network.
	"supervisor/logfile": {"os/exec", "net", "github.com/rs/zerolog"},
	// Environment files hold secrets: read, never logged.
	"supervisor/envfile": {"os/exec", "net", "github.com/rs/zerolog"},
}

func TestImportRules(t *testing.T) {
	for _, p := range list(t) {
		rel := strings.TrimPrefix(p.ImportPath, mod)
		if allow, ok := cmdAllowed[rel]; ok {
			for _, imp := range ours(p.Imports) {
				if !slices.Contains(allow, imp) {
					t.Errorf("%s imports %s, which the dependency direction forbids", rel, imp)
				}
			}
			continue
		}
		if strings.HasPrefix(rel, "cmd") || strings.HasPrefix(rel, "proptest") {
			continue
		}
		allow, ok := allowed[rel]
		if !ok {
			if strings.HasSuffix(rel, "proctest") {
				// test helper: nothing of ours but the launcher's entry point,
				// which it serves as in test binaries
				for _, imp := range ours(p.Imports) {
					if imp != "supervisor/proc/launch" {
						t.Errorf("%s imports %s", rel, imp)
					}
				}
				continue
			}
			t.Errorf("%s: no import rule; add it to this test", rel)
			continue
		}
		set := map[string]bool{}
		for _, a := range allow {
			set[a] = true
		}
		for _, imp := range ours(p.Imports) {
			if !set[imp] {
				t.Errorf("%s imports %s, which the dependency direction forbids", rel, imp)
			}
		}
		for _, imp := range p.Imports {
			if rel == "fsm/policy" && (imp == "os" || imp == "time") {
				continue // time.Duration and time.Time are its vocabulary; see TestPolicyReadsNoClock
			}
			if (rel == "fsm/policy" || rel == "fsm" || rel == "events" || rel == "supervisor/core") && imp == "os" {
				t.Errorf("%s imports os: pure packages do no I/O", rel)
			}
		}
		for _, bad := range forbidden[rel] {
			for _, d := range append(p.Deps, p.Imports...) {
				if d == bad {
					t.Errorf("%s depends on %s", rel, bad)
				}
			}
		}
	}
}

// The embedded NATS server is a test helper: the tend binary and the
// packages it is built from never link it.
func TestNATSServerOnlyInTests(t *testing.T) {
	for _, p := range list(t) {
		if strings.HasSuffix(p.ImportPath, "/natstest") {
			continue
		}
		for _, d := range append(p.Deps, p.Imports...) {
			if strings.HasPrefix(d, "github.com/nats-io/nats-server/") || strings.HasSuffix(d, "/natstest") {
				t.Errorf("%s (non-test code) depends on %s", p.ImportPath, d)
				break
			}
		}
	}
}

// Nothing but tests and commands may import the test helpers.
func TestTestHelpersStayInTests(t *testing.T) {
	for _, p := range list(t) {
		for _, imp := range ours(p.Imports) {
			if strings.HasSuffix(imp, "proctest") || imp == "proptest" {
				t.Errorf("%s (non-test code) imports %s", p.ImportPath, imp)
			}
		}
	}
}

func TestEveryPackageHasADoc(t *testing.T) {
	for _, p := range list(t) {
		if p.Name == "main" && p.Doc == "" || p.Name != "main" && len(p.Doc) < 20 {
			t.Errorf("%s: package doc missing or too short (%q): say what it is for", p.ImportPath, p.Doc)
		}
	}
}

// The pure packages never read the clock: time comes in with the events.
func TestPureCodeReadsNoClock(t *testing.T) {
	for _, dir := range []string{"../../../fsm", "../../../fsm/policy", "../../../events", "../../../supervisor/core"} {
		out, _ := exec.Command("grep", "-rn", "--include=*.go", "--exclude=*_test.go", "-e", "time.Now()", "-e", "time.Since(", "-e", "time.After(", dir).Output()
		if len(out) > 0 {
			t.Errorf("pure package reads the clock:\n%s", out)
		}
	}
}

// The read side (replay, history, why, the report, the offline CLI's
// queries) reads the log through fsm and never reaches the supervisor or
// its OS edges: a postmortem on a copied log runs nothing of the daemon.
// The live view is a client of the socket alone, and so reaches neither.
func TestReadSideNeedsNoSupervisor(t *testing.T) {
	readSide := map[string]bool{"fsm/replay": true, "cmd/internal/query": true, "cmd/internal/report": true,
		"cmd/internal/explain": true, "cmd/internal/client": true, "cmd/internal/top": true, "cmd/internal/fleet": true}
	for _, p := range list(t) {
		rel := strings.TrimPrefix(p.ImportPath, mod)
		if !readSide[rel] {
			continue
		}
		delete(readSide, rel)
		for _, d := range ours(append(p.Deps, p.Imports...)) {
			if d == "supervisor" || strings.HasPrefix(d, "supervisor/") || d == "cmd/internal/daemon" {
				t.Errorf("%s (read side) depends on %s", rel, d)
			}
		}
	}
	for rel := range readSide {
		t.Errorf("%s: read-side package not found", rel)
	}
}

// leanThirdParty is everything outside the standard library and tend
// that the lean client (cmd/tend) may link: nothing. It reads the
// everyday commands' command lines itself (cli.Parse): cobra's init and
// the tree it builds at every run (text/template, regexp, its completion
// commands) cost the client about a millisecond of its start.
var leanThirdParty = []string{}

// leanForbidden names what the lean client must never link, even through
// a package of ours: every one of them (or what it pulls in) runs inits
// and faults in pages on every `tend status`. net/http brings TLS, x509
// and HTTP/2 with it: the client speaks HTTP/1.1 on the socket itself.
// An entry ending in / stands for every package under it.
var leanForbidden = []string{"github.com/tendhq/tend/store", "go.etcd.io/bbolt/", "github.com/tendhq/tend/supervisor",
	"github.com/tendhq/tend/supervisor/", "github.com/tendhq/tend/fsm", "github.com/tendhq/tend/fsm/",
	"github.com/tendhq/tend/cmd/internal/config", "github.com/tendhq/tend/cmd/internal/daemon",
	"github.com/prometheus/", "github.com/nats-io/", "github.com/shirou/gopsutil/", "google.golang.org/protobuf/",
	"github.com/charmbracelet/", "github.com/rs/zerolog", "github.com/looplab/fsm", "net/http", "net/http/", "crypto/tls", "crypto/x509",
	"github.com/BurntSushi/toml", "github.com/BurntSushi/toml/", "github.com/spf13/", "github.com/tendhq/tend/cmd/internal/cli/tree"}

// The lean client starts fast because it links little: every package it
// reaches is of the standard library, of tend's lean set (TestImportRules'
// cmdAllowed), or in leanThirdParty, and none is in leanForbidden.
func TestLeanClient(t *testing.T) {
	var lean *pkg
	std := map[string]bool{}
	ps := list(t)
	for i := range ps {
		if ps[i].ImportPath == mod+"cmd/tend" {
			lean = &ps[i]
		}
	}
	if lean == nil {
		t.Fatal("cmd/tend: the lean client's package not found")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", mod+"cmd/tend").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[1] == "true" {
			std[f[0]] = true
		}
	}
	for _, d := range lean.Deps {
		for _, bad := range leanForbidden {
			if d == bad || strings.HasSuffix(bad, "/") && strings.HasPrefix(d, bad) {
				t.Errorf("cmd/tend (the lean client) depends on %s: a command that needs it belongs to tendd", d)
			}
		}
		rel, ours := strings.CutPrefix(d, mod)
		switch {
		case ours:
			if _, ok := cmdAllowed[rel]; !ok && rel != "events" && rel != "cmd/internal/termsafe" {
				t.Errorf("cmd/tend (the lean client) depends on %s, which is not of the lean set", rel)
			}
		case std[d] || strings.HasPrefix(d, "vendor/"):
		case !slices.Contains(leanThirdParty, d):
			t.Errorf("cmd/tend (the lean client) depends on %s, not in leanThirdParty", d)
		}
	}
}
