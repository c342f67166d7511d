package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func probeOnce(t *testing.T, spec Spec) (bool, string) {
	t.Helper()
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	p := newProber(spec)
	defer p.close()
	ctx, cancel := context.WithTimeout(t.Context(), spec.Timeout)
	defer cancel()
	return p.probe(ctx)
}

func httpSpec(url string) Spec {
	return Spec{Type: TypeHTTP, URL: url, Interval: time.Second, Timeout: 2 * time.Second, Failures: 1}
}

func TestHTTPProbeStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusOK)
		case "/redirect":
			// The target fails: a followed redirect would turn this into a failure.
			http.Redirect(w, r, "/down", http.StatusFound)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	for _, c := range []struct {
		path string
		ok   bool
		code int
	}{{"/ok", true, 200}, {"/redirect", true, 302}, {"/down", false, 503}} {
		ok, detail := probeOnce(t, httpSpec(srv.URL+c.path))
		want := "GET " + srv.URL + c.path + ": status " + strconv.Itoa(c.code)
		if ok != c.ok || detail != want {
			t.Errorf("%s: got %v %q, want %v %q", c.path, ok, detail, c.ok, want)
		}
	}
}

func TestHTTPProbeRefusedAndTimeout(t *testing.T) {
	addr := closedAddr(t)
	ok, detail := probeOnce(t, httpSpec("http://"+addr+"/healthz"))
	if ok || !strings.Contains(detail, "connection refused") || !strings.HasPrefix(detail, "GET http://"+addr) {
		t.Errorf("refused: got %v %q", ok, detail)
	}

	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	spec := httpSpec(srv.URL + "/slow")
	spec.Timeout = 100 * time.Millisecond
	ok, detail = probeOnce(t, spec)
	if want := "GET " + srv.URL + "/slow: timed out after 100ms"; ok || detail != want {
		t.Errorf("hanging handler: got %v %q, want %q", ok, detail, want)
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	spec := Spec{Type: TypeTCP, Address: ln.Addr().String(), Interval: time.Second, Timeout: time.Second, Failures: 1}
	if ok, detail := probeOnce(t, spec); !ok {
		t.Errorf("listening: got unhealthy %q", detail)
	}
	<-accepted

	spec.Address = closedAddr(t)
	ok, detail := probeOnce(t, spec)
	if want := "dial tcp " + spec.Address + ": connect: connection refused"; ok || detail != want {
		t.Errorf("closed port: got %v %q, want %q", ok, detail, want)
	}
}

func execSpec(argv ...string) Spec {
	return Spec{Type: TypeExec, Command: argv, Interval: time.Second, Timeout: 5 * time.Second, Failures: 1}
}

func TestExecProbe(t *testing.T) {
	for _, c := range []struct {
		argv   []string
		ok     bool
		detail string
	}{
		{[]string{"sh", "-c", "exit 0"}, true, "exec [sh -c exit 0]: exit status 0"},
		{[]string{"sh", "-c", "exit 1"}, false, "exec [sh -c exit 1]: exit status 1"},
		{[]string{"/nonexistent/check"}, false, "exec [/nonexistent/check]: fork/exec /nonexistent/check: no such file or directory"},
	} {
		ok, detail := probeOnce(t, execSpec(c.argv...))
		if ok != c.ok || detail != c.detail {
			t.Errorf("%v: got %v %q, want %v %q", c.argv, ok, detail, c.ok, c.detail)
		}
	}
}

func TestExecProbeTimeoutKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	spec := execSpec("sh", "-c", `echo $$ > "$0"; sleep 60 & sleep 60; wait`, pidFile)
	spec.Timeout = 200 * time.Millisecond
	start := time.Now()
	ok, detail := probeOnce(t, spec)
	if ok || !strings.HasSuffix(detail, ": timed out after 200ms") {
		t.Fatalf("got %v %q, want a timeout", ok, detail)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("probe took %v after a 200ms timeout", el)
	}
	assertGroupGone(t, readPid(t, pidFile))
}

func TestExecProbeLeftoversKilled(t *testing.T) {
	// The check exits at once but leaves a background process in its group.
	pidFile := filepath.Join(t.TempDir(), "pid")
	ok, detail := probeOnce(t, execSpec("sh", "-c", `echo $$ > "$0"; sleep 60 & exit 0`, pidFile))
	if !ok {
		t.Fatalf("got unhealthy %q", detail)
	}
	assertGroupGone(t, readPid(t, pidFile))
}

// closedAddr returns a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// assertGroupGone fails if group pgid still has a live process 2s from now.
// SIGKILL takes effect asynchronously, hence the wait. Zombies are dead:
// orphans reparented to a PID 1 that never reaps stay as zombies.
func assertGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		live := liveMembers(pgid)
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("group %d still has live members %v", pgid, live)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func liveMembers(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var live []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			live = append(live, pid)
		}
	}
	return live
}

func fileExists(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && len(b) > 0
}
