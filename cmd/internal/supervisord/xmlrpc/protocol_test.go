package xmlrpc

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
)

func post(t *testing.T, sock, path, body string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer c.CloseIdleConnections()
	resp, err := c.Post("http://x"+path, "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func callXML(method string, params ...string) string {
	var b strings.Builder
	b.WriteString("<?xml version='1.0'?><methodCall><methodName>" + method + "</methodName><params>")
	for _, p := range params {
		b.WriteString("<param><value>" + p + "</value></param>")
	}
	b.WriteString("</params></methodCall>")
	return b.String()
}

func faultCode(body string) string {
	i := strings.Index(body, "<name>faultCode</name><value><int>")
	if !strings.Contains(body, "<fault>") || i < 0 {
		return ""
	}
	rest := body[i+len("<name>faultCode</name><value><int>"):]
	return rest[:strings.Index(rest, "<")]
}

func TestFaults(t *testing.T) {
	f := newFake(t)
	_, sock := serve(t, f, Options{MaxRequest: 4096})
	if err := os.WriteFile(f.logs["web"], []byte("log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body, code string
	}{
		{"bad XML", "<methodCall><methodName>x", "2"},
		{"not XML-RPC", "<foo/>", "2"},
		{"no method name", "<methodCall><params/></methodCall>", "2"},
		{"unknown method", callXML("supervisor.frobnicate"), "1"},
		{"unknown namespace", callXML("nope.getState"), "1"},
		{"too few params", callXML("supervisor.getProcessInfo"), "2"},
		{"wrong param type", callXML("supervisor.getProcessInfo", "<int>3</int>"), "3"},
		{"bad int", callXML("supervisor.readProcessStdoutLog", "web", "<int>x</int>", "<int>0</int>"), "2"},
		{"bad name", callXML("supervisor.getProcessInfo", "<string>nope</string>"), "10"},
		{"bad group", callXML("supervisor.startProcessGroup", "<string>nope</string>"), "10"},
		{"oversized", callXML("supervisor.getState", "<string>"+strings.Repeat("x", 5000)+"</string>"), "2"},
		{"deep nesting", callXML("system.multicall", strings.Repeat("<array><data><value>", 40)+strings.Repeat("</value></data></array>", 40)), "2"},
		{"negative offset with length", callXML("supervisor.readProcessStdoutLog", "web", "<int>-5</int>", "<int>3</int>"), "3"},
		{"no log file yet", callXML("supervisor.readProcessStdoutLog", "cron", "<int>-5</int>", "<int>0</int>"), "20"},
	} {
		status, body := post(t, sock, "/RPC2", tc.body)
		if status != 200 || faultCode(body) != tc.code {
			t.Errorf("%s: HTTP %d, fault %q, want fault %s:\n%s", tc.name, status, faultCode(body), tc.code, body)
		}
	}
	if calls := f.callLog(); len(calls) != 0 {
		t.Errorf("faulted calls reached the Control: %q", calls)
	}
}

func TestMulticallAndListMethods(t *testing.T) {
	f := newFake(t)
	_, sock := serve(t, f, Options{})
	member := func(m, params string) string {
		return "<value><struct><member><name>methodName</name><value>" + m + "</value></member>" +
			"<member><name>params</name><value><array><data>" + params + "</data></array></value></member></struct></value>"
	}
	body := callXML("system.multicall", "<array><data>"+
		member("supervisor.getAPIVersion", "")+
		member("supervisor.nope", "")+
		member("system.multicall", "<value><array><data/></array></value>")+
		member("supervisor.getProcessInfo", "<value>web</value>")+
		"</data></array>")
	_, resp := post(t, sock, "/RPC2", body)
	for _, want := range []string{"<string>3.0</string>", "<int>1</int>", "UNKNOWN_METHOD", "multicall cannot nest", "<name>statename</name><value><string>RUNNING</string>"} {
		if !strings.Contains(resp, want) {
			t.Errorf("multicall response lacks %q:\n%s", want, resp)
		}
	}
	_, resp = post(t, sock, "/RPC2", callXML("system.listMethods"))
	if !strings.Contains(resp, "supervisor.tailProcessStdoutLog") || !strings.Contains(resp, "system.multicall") {
		t.Errorf("listMethods: %s", resp)
	}
	if status, _ := post(t, sock, "/logtail/web/stdout", ""); status != http.StatusBadRequest {
		t.Errorf("POST /logtail: HTTP %d", status)
	}
}

func TestStateMapping(t *testing.T) {
	code := 1
	for _, tc := range []struct {
		w    WorkerInfo
		want string
	}{
		{WorkerInfo{State: events.Running}, "RUNNING"},
		{WorkerInfo{State: events.Stopping}, "STOPPING"},
		{WorkerInfo{State: events.Starting}, "STARTING"},
		{WorkerInfo{State: events.Starting, RestartPending: true}, "BACKOFF"},
		{WorkerInfo{State: events.Stopped}, "STOPPED"},
		{WorkerInfo{State: events.Stopped, Exited: true, ExitCode: &code}, "EXITED"},
		{WorkerInfo{State: events.Stopped, RestartPending: true}, "BACKOFF"},
		{WorkerInfo{State: events.Stopped, BreakerOpen: true}, "FATAL"},
		{WorkerInfo{State: events.Stopped, SpawnError: "exec failed"}, "FATAL"},
		{WorkerInfo{State: events.Killed}, "EXITED"},
	} {
		if _, got := StateOf(tc.w); got != tc.want {
			t.Errorf("StateOf(%+v) = %s, want %s", tc.w, got, tc.want)
		}
	}
	if pyTimedelta(49*time.Hour+62*time.Second) != "2 days, 1:01:02" || pyTimedelta(5*time.Second) != "0:00:05" {
		t.Error("pyTimedelta does not match Python's timedelta")
	}
}

// The log calls follow supervisord's readFile and tailFile exactly.
func TestLogOffsets(t *testing.T) {
	f := newFake(t)
	s := NewServer(f, Options{})
	defer s.Close()
	if err := os.WriteFile(f.logs["web"], []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		off, n int64
		want   string
	}{{-4, 0, "6789"}, {-40, 0, "0123456789"}, {2, 3, "234"}, {7, 0, "789"}, {20, 0, ""}, {8, 10, "89"}} {
		got, flt := s.readLog("web", tc.off, tc.n, false, s.newBudget())
		if flt != nil || got != tc.want {
			t.Errorf("read(%d, %d) = %v, %v; want %q", tc.off, tc.n, got, flt, tc.want)
		}
	}
	for _, tc := range []struct {
		off, n   int64
		want     string
		next     int64
		overflow bool
	}{{0, 4, "6789", 10, true}, {0, 20, "0123456789", 10, false}, {10, 5, "", 10, false}, {8, 5, "56789", 10, false}} {
		got, flt := s.tailLog("web", tc.off, tc.n, false, s.newBudget())
		r := got.([]any)
		if flt != nil || r[0] != tc.want || r[1] != tc.next || r[2] != tc.overflow {
			t.Errorf("tail(%d, %d) = %v, %v; want [%q %d %v]", tc.off, tc.n, r, flt, tc.want, tc.next, tc.overflow)
		}
	}
}

func FuzzDecodeCall(f *testing.F) {
	f.Add([]byte(callXML("system.multicall", "<array><data><value><struct><member><name>methodName</name><value>x</value></member></struct></value></data></array>")))
	f.Add([]byte(callXML("supervisor.readProcessStdoutLog", "web", "<int>-1600</int>", "<i4>0</i4>", "<boolean>1</boolean>", "<double>1.5</double>", "<base64>aGk=</base64>", "<nil/>")))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeCall(data)
		if err != nil {
			return
		}
		// Whatever decodes must dispatch without panicking.
		s := NewServer(newStatic(), Options{})
		defer s.Close()
		v, flt := s.dispatch(context.Background(), "fuzz", c.method, c.params, false, s.newBudget())
		if flt == nil {
			_ = encodeResponse(v)
		}
	})
}

// static is a Control with one stopped worker and no side effects.
type static struct{}

func newStatic() static { return static{} }

func (static) Workers() []WorkerInfo {
	return []WorkerInfo{{Name: "web", State: events.Stopped}, {Name: "a", Group: "g", State: events.Stopped}}
}
func (static) Command(_ context.Context, start bool, names []string, _ string, _ bool) []error {
	errs := make([]error, len(names))
	for i := range errs {
		if start {
			errs[i] = ErrSpawn
		} else {
			errs[i] = ErrNotRunning
		}
	}
	return errs
}
func (static) Reload(context.Context, string) ([]string, []string, []string, error) {
	return []string{"x"}, nil, nil, nil
}
func (static) Signal(_ context.Context, names []string, _ int, _ string) []error {
	return make([]error, len(names))
}
func (static) Shutdown(string) error                 { return nil }
func (static) LogPath(string, bool) (string, uint32) { return "", 0 }

// /logtail streams as supervisord's does: the last KiB, what is appended,
// "==> File truncated <==" when the file shrinks, the new file from its
// start when another replaces it, and never a link planted at its name.
func TestLogtailFollowsRotation(t *testing.T) {
	f := newFake(t)
	_, sock := serve(t, f, Options{TailInterval: 10 * time.Millisecond})
	path := f.logs["web"]
	if err := os.WriteFile(path, []byte(strings.Repeat("x", 2000)+"\nstart\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://x/logtail/web/stdout", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got syncBuffer
	go io.Copy(&got, resp.Body)
	waitFor(t, func() bool { return strings.Contains(got.String(), "start\n") })
	if n := len(got.String()); n != tailHead {
		t.Errorf("the tail began with %d bytes, want %d", n, tailHead)
	}
	appendTo := func(s string) {
		fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fh.WriteString(s)
		fh.Close()
	}
	appendTo("appended\n")
	waitFor(t, func() bool { return strings.HasSuffix(got.String(), "start\nappended\n") })
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendTo("after truncation\n")
	waitFor(t, func() bool {
		return strings.HasSuffix(got.String(), "appended\n==> File truncated <==\nafter truncation\n")
	})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("a new file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.HasSuffix(got.String(), "after truncation\na new file\n") })
	secret := filepath.Join(filepath.Dir(path), "secret")
	if err := os.WriteFile(secret, []byte("SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(path), 0o777) // a directory a worker could write
	os.Remove(path)
	if err := os.Symlink(secret, path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if strings.Contains(got.String(), "SECRET") {
		t.Fatalf("/logtail read through a planted link:\n%s", got.String())
	}
	srv := NewServer(f, Options{})
	defer srv.Close()
	if _, flt := srv.readLog("web", -100, 0, false, srv.newBudget()); flt == nil || flt.Code != faultFailed {
		t.Errorf("readLog of a planted link: %v, want FAILED", flt)
	}
}

// signalProcess, signalProcessGroup and signalAllProcesses answer with
// supervisord's faults and result structs: BAD_SIGNAL (naming the signal)
// before NOT_RUNNING, BAD_NAME for an unknown name or group, FAILED with
// the reason; a group or all signals only the signallable workers.
func TestSignal(t *testing.T) {
	f := newFake(t)
	_, sock := serve(t, f, Options{})
	for _, tc := range []struct {
		name, body, code string
		calls            []string
	}{
		{"by name", callXML("supervisor.signalProcess", "web", "HUP"), "", []string{"signal web 1 by "}},
		{"SIG prefix, lower case", callXML("supervisor.signalProcess", "web", "sigusr1"), "", []string{"signal web 10 by "}},
		{"a number as a string", callXML("supervisor.signalProcess", "web", "12"), "", []string{"signal web 12 by "}},
		{"a number", callXML("supervisor.signalProcess", "web", "<int>15</int>"), "", []string{"signal web 15 by "}},
		{"bad signal first", callXML("supervisor.signalProcess", "cron", "FOO"), "11", nil},
		{"not running", callXML("supervisor.signalProcess", "cron", "HUP"), "70", []string{"signal cron 1 by "}},
		{"unknown", callXML("supervisor.signalProcess", "nope", "HUP"), "10", nil},
		{"unknown group", callXML("supervisor.signalProcessGroup", "nope", "HUP"), "10", nil},
		{"no signal", callXML("supervisor.signalProcess", "web"), "2", nil},
	} {
		_, body := post(t, sock, "/RPC2", tc.body)
		if got := faultCode(body); got != tc.code {
			t.Errorf("%s: fault %q, want %q:\n%s", tc.name, got, tc.code, body)
		}
		if tc.code == "11" && !strings.Contains(body, "BAD_SIGNAL: FOO") {
			t.Errorf("%s: the fault does not name the signal:\n%s", tc.name, body)
		}
		calls := f.callLog()
		for i := range calls {
			calls[i] = calls[i][:strings.LastIndex(calls[i], " by ")+4]
		}
		if strings.Join(calls, "|") != strings.Join(tc.calls, "|") {
			t.Errorf("%s: calls %q, want %q", tc.name, calls, tc.calls)
		}
	}
	// A group signals its running members only: one result each.
	_, body := post(t, sock, "/RPC2", callXML("supervisor.signalProcessGroup", "backend", "HUP"))
	if !strings.Contains(body, "<string>queue_01</string>") || strings.Contains(body, "queue_02") || !strings.Contains(body, "<int>80</int>") {
		t.Errorf("signalProcessGroup:\n%s", body)
	}
	// "group:*" through signalProcess is the group.
	_, body = post(t, sock, "/RPC2", callXML("supervisor.signalProcess", "backend:*", "HUP"))
	if !strings.Contains(body, "<string>queue_01</string>") || faultCode(body) != "" {
		t.Errorf("signalProcess group:*:\n%s", body)
	}
	// All: a bad signal is reported per worker, and nothing is sent.
	f.callLog()
	_, body = post(t, sock, "/RPC2", callXML("supervisor.signalAllProcesses", "NOPE"))
	if strings.Count(body, "<int>11</int>") != 2 || len(f.callLog()) != 0 {
		t.Errorf("signalAllProcesses with a bad signal:\n%s", body)
	}
	f.fail["web"] = true
	_, body = post(t, sock, "/RPC2", callXML("supervisor.signalAllProcesses", "USR2"))
	if !strings.Contains(body, "<int>30</int>") || !strings.Contains(body, "operation not permitted") || !strings.Contains(body, "<int>80</int>") {
		t.Errorf("signalAllProcesses:\n%s", body)
	}
}
