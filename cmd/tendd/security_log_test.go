package main

// What the log and the configuration give away or accept, end to end
// against the real binary.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/bcrypt"

	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/store"
)

// oldDigests are what tend recorded before digests were keyed: the plain
// SHA-256 of the file and of the worker's settings, which config still
// computes in memory. Each is returned in hex and as raw bytes.
func oldDigests(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	add := func(h string) {
		raw, err := hex.DecodeString(h)
		if err != nil || len(raw) != 32 {
			t.Fatalf("fingerprint %q is not a hex SHA-256", h)
		}
		out = append(out, []byte(h), raw)
	}
	add(cfg.Hash)
	for _, name := range cfg.Order {
		add(cfg.Workers[name].Hash)
	}
	return out
}

// The digests the log records of a worker's settings and of the file are
// keyed per log: neither the plain SHA-256 an older tend recorded (against
// which a secret in env could be guessed offline) nor the secret appears in
// the file or in what the readers export, and the digest still tells
// whether the settings changed.
func TestSettingsDigestsAreKeyed(t *testing.T) {
	e := newEnv(t, "")
	conf := func(secret string, withWorker bool) string {
		s := "[daemon]\nstate_dir = \"state\"\n"
		if withWorker {
			s += fmt.Sprintf("\n[worker.api]\ncommand = %s\nautostart = false\nenv = { API_TOKEN = %q }\n", helperCmd("hang"), secret)
		}
		return s
	}
	const s1, s2 = "hunter2-very-secret-1", "hunter2-very-secret-2"
	var old [][]byte
	load := func(secret string, withWorker bool) {
		t.Helper()
		e.write(conf(secret, withWorker))
		old = append(old, oldDigests(t, e.conf)...)
		if e.daemon == nil {
			e.startDaemon()
			return
		}
		e.mustTend("reload")
	}
	// api added with s1, the same file again, removed, added with s2,
	// removed, added with s1 again.
	load(s1, true)
	load(s1, true)
	load(s1, false)
	load(s2, true)
	load(s2, false)
	load(s1, true)
	e.stopDaemon()

	out := e.mustTend("events", "--db", e.db(), "-o", "json")
	var loaded, added []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev events.JSON
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		switch ev.Type {
		case "config_loaded":
			loaded = append(loaded, ev.Hash)
		case "worker_added":
			added = append(added, ev.Hash)
		}
	}
	if len(loaded) != 6 || len(added) != 3 {
		t.Fatalf("%d config_loaded and %d worker_added, want 6 and 3:\n%s", len(loaded), len(added), out)
	}
	for _, h := range append(append([]string(nil), loaded...), added...) {
		if !strings.HasPrefix(h, store.DigestPrefix) {
			t.Errorf("recorded digest %q is not keyed", h)
		}
	}
	// Same settings, same log: same digest. Other settings: another.
	if loaded[0] != loaded[1] || loaded[0] != loaded[5] || loaded[0] == loaded[3] || loaded[2] != loaded[4] {
		t.Errorf("config_loaded digests do not follow the file: %q", loaded)
	}
	if added[0] != added[2] || added[0] == added[1] {
		t.Errorf("worker_added digests do not follow the env value: %q", added)
	}

	report := filepath.Join(e.dir, "report.html")
	e.mustTend("report", "--db", e.db(), "-o", report)
	for name, path := range map[string]string{"the log file": e.db(), "the report": report} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range old {
			if bytes.Contains(data, o) {
				t.Errorf("%s holds an unkeyed digest of the settings (%x)", name, o)
			}
		}
		for _, s := range []string{s1, s2} {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s holds the secret", name)
			}
		}
	}
	for _, o := range old {
		if strings.Contains(out, string(o)) {
			t.Errorf("tend events -o json shows an unkeyed digest %q", o)
		}
	}
}

// Every offline command on a damaged log fails with exit 1 (not 2, the
// usage code), naming the file and the first bad seq; recover, whose job it
// is, succeeds and names them too.
func TestDamagedLogExitCodes(t *testing.T) {
	e := newEnv(t, fmt.Sprintf("[worker.w]\ncommand = %s\nstart_timeout = \"50ms\"\n", helperCmd("hang")))
	e.startDaemon()
	e.waitStatus("w", "running", running)
	for range 5 {
		e.mustTend("restart", "w")
	}
	e.stopDaemon()
	l := openLog(t, e.db())
	last := l.LastSeq()
	l.Close()
	bad := last / 2
	off, n := recordOffset(t, e.db(), bad)
	data, err := os.ReadFile(e.db())
	if err != nil {
		t.Fatal(err)
	}
	data[off+int64(n/2)] ^= 0x20
	db := filepath.Join(e.dir, "damaged.db")
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	seq := fmt.Sprintf("seq %d", bad)
	for _, args := range [][]string{
		{"history", "w"},
		{"why", "w"},
		{"events"},
		{"events", "--worker", "w", "-o", "json"},
		{"replay", "--at", "1s"},
		{"replay", "--seq", fmt.Sprint(last)},
		{"verify"},
		{"report", "-o", filepath.Join(e.dir, "r.html")},
	} {
		out, errs, code := e.tend(append(args, "--db", db)...)
		t.Logf("tend %s: exit %d: %s", strings.Join(args, " "), code, errs)
		if code != 1 || !strings.Contains(errs, db) || !strings.Contains(errs, seq) {
			t.Errorf("tend %s on a log damaged at %s: exit %d, want 1 and a message naming %s and the seq:\n%s%s",
				strings.Join(args, " "), seq, code, db, out, errs)
		}
	}
	out, errs, code := e.tend("recover", "--db", db, "--out", filepath.Join(e.dir, "recovered.db"))
	if code != 0 || !strings.Contains(out, db) || !strings.Contains(out, "from "+seq) {
		t.Errorf("recover: exit %d:\n%s%s", code, out, errs)
	}
}

// A configuration file that users other than root and the daemon's could
// change is refused by the daemon (at start and on reload) unless the
// command line allows it, and tend check warns of it.
func TestUnsafeConfigFileRefused(t *testing.T) {
	e := newEnv(t, fmt.Sprintf("[worker.w]\ncommand = %s\n", helperCmd("hang")))
	if err := os.Chmod(e.conf, 0o666); err != nil {
		t.Fatal(err)
	}
	out, errs, code := e.tend("check")
	if code != 0 || !strings.Contains(errs, "warning: "+e.conf) || !strings.Contains(errs, "every user (mode 0666)") || !strings.Contains(out, "ok, 1 workers") {
		t.Fatalf("check of a world-writable config: exit %d:\n%s%s", code, out, errs)
	}
	msg := e.daemonRefuses()
	if !strings.Contains(msg, e.conf) || !strings.Contains(msg, "every user") || !strings.Contains(msg, "--allow-unsafe-config") {
		t.Fatalf("the refusal does not name the file and who can write it:\n%s", msg)
	}
	if _, err := os.Stat(e.db()); err == nil {
		t.Fatal("the refused daemon created its log")
	}

	// A directory on the way, group-writable by a group that is not root's.
	etc := filepath.Join(e.dir, "etc")
	if err := os.Mkdir(etc, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(etc, 0, 65534); err != nil {
		t.Fatal(err)
	}
	os.Chmod(etc, 0o775)
	moved := filepath.Join(etc, "tend.toml")
	if err := os.Rename(e.conf, moved); err != nil {
		t.Fatal(err)
	}
	os.Chmod(moved, 0o600)
	e.conf = moved
	e.write(fmt.Sprintf("[daemon]\nstate_dir = %q\n[worker.w]\ncommand = %s\n", filepath.Join(e.dir, "state"), helperCmd("hang")))
	msg = e.daemonRefuses()
	if !strings.Contains(msg, etc+" (on the way to "+moved+")") || !strings.Contains(msg, "group") {
		t.Fatalf("the refusal does not name the directory and its group:\n%s", msg)
	}

	// Allowed on the command line: it runs, and says so in its log.
	e.startDaemon("--allow-unsafe-config")
	e.waitStatus("w", "running", running)
	e.stopDaemon() // its stderr is whole, and no longer written to
	if !strings.Contains(e.stderr.String(), "allow-unsafe-config") {
		t.Errorf("no warning in the daemon's log:\n%s", e.stderr)
	}

	// A safe file; made unsafe while the daemon runs, a reload is refused.
	os.Chmod(etc, 0o755)
	e.startDaemon()
	e.waitStatus("w", "running", running)
	os.Chmod(moved, 0o646)
	if out, errs, code := e.tend("reload"); code == 0 || !strings.Contains(errs, moved) {
		t.Fatalf("reload of a world-writable config: exit %d:\n%s%s", code, out, errs)
	}
}

// Metrics on every interface are warned of by check and the daemon, and
// served through the exporter toolkit's web configuration: TLS with a
// self-signed certificate, basic auth with a bcrypt hash. A request
// without the password, or without TLS, is refused; with both, the
// Prometheus text parses.
func TestMetricsOverTLSWithBasicAuth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	e := newEnv(t, "")

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tend"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	hash, _ := bcrypt.GenerateFromPassword([]byte("scrape-pass"), bcrypt.MinCost)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for name, data := range map[string][]byte{
		"cert.pem": certPEM,
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		"web.yml": []byte("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n" +
			"basic_auth_users:\n  prometheus: '" + string(hash) + "'\n"),
	} {
		if err := os.WriteFile(filepath.Join(e.dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.write(fmt.Sprintf("[daemon]\nstate_dir = \"state\"\nmetrics_listen = \"0.0.0.0:%d\"\nmetrics_web_config = \"web.yml\"\n\n"+
		"[worker.w]\ncommand = %s\n", port, helperCmd("hang")))

	if out, errs, code := e.tend("check"); code != 0 || !strings.Contains(errs, "metrics_listen listens beyond loopback") {
		t.Fatalf("check: exit %d:\n%s%s", code, out, errs)
	}
	e.startDaemon()
	e.waitStatus("w", "running", running)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(url string, auth bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if auth {
			req.SetBasicAuth("prometheus", "scrape-pass")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/metrics", port)
	if code, body := get(url, false); code != http.StatusUnauthorized {
		t.Fatalf("without credentials: %d %s", code, body)
	}
	if code, body := get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port), true); code == http.StatusOK {
		t.Fatalf("served over plain HTTP: %s", body)
	}
	code, body := get(url, true)
	if code != http.StatusOK {
		t.Fatalf("with credentials: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	found := false
	for _, m := range fams["tend_worker_state"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		found = found || labels["worker"] == "w" && labels["state"] == "Running" && m.GetGauge().GetValue() == 1
	}
	if !found {
		t.Fatalf("no tend_worker_state{worker=w,state=Running} 1 in:\n%s", body)
	}
	e.stopDaemon() // its stderr is whole, and no longer written to
	if !strings.Contains(e.stderr.String(), "beyond loopback") {
		t.Errorf("the daemon did not warn of its metrics listener:\n%s", e.stderr)
	}
}
