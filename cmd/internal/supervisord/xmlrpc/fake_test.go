package xmlrpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
)

// fakeControl is an in-memory daemon: Start makes a worker Running at once
// (or FATAL when it is marked to fail), Stop makes it Stopped.
type fakeControl struct {
	mu       sync.Mutex
	workers  map[string]*WorkerInfo
	logs     map[string]string // name -> stdout path; stderr is path + ".err"
	fail     map[string]bool   // Start fails to spawn
	calls    []string          // "start web by ACTOR"
	nextPID  int
	reload   [3][]string
	shutdown bool
}

func newFake(t testing.TB) *fakeControl {
	dir := t.TempDir()
	f := &fakeControl{workers: map[string]*WorkerInfo{}, logs: map[string]string{}, fail: map[string]bool{}, nextPID: 4000}
	add := func(name, group string, state events.State) {
		w := &WorkerInfo{Name: name, Group: group, State: state, Since: time.Now().Add(-time.Hour), Autostart: true}
		if state == events.Running {
			f.nextPID++
			w.PID, w.Started = f.nextPID, time.Now().Add(-61*time.Minute)
		}
		f.workers[name] = w
		f.logs[name] = filepath.Join(dir, name+".log")
	}
	add("web", "", events.Running)
	add("cron", "", events.Stopped)
	add("queue_01", "backend", events.Running)
	add("queue_02", "backend", events.Stopped)
	add("broken", "", events.Stopped)
	f.fail["broken"] = true
	return f
}

func (f *fakeControl) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeControl) Workers() []WorkerInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]WorkerInfo, 0, len(f.workers))
	for _, w := range f.workers {
		out = append(out, *w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (f *fakeControl) Command(_ context.Context, start bool, names []string, actor string, wait bool) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := make([]error, len(names))
	for i, name := range names {
		w, ok := f.workers[name]
		if !ok {
			errs[i] = ErrNoWorker
			continue
		}
		if !start {
			f.record("stop %s by %s", name, actor)
			if w.State != events.Running && w.State != events.Starting {
				errs[i] = ErrNotRunning
				continue
			}
			w.State, w.PID, w.Since = events.Stopped, 0, time.Now()
			continue
		}
		f.record("start %s by %s", name, actor)
		if w.State == events.Running {
			errs[i] = ErrAlreadyStarted
			continue
		}
		if f.fail[name] {
			w.State, w.SpawnError, w.Since = events.Stopped, "exec: /nonexistent: no such file", time.Now()
			w.Started = time.Now()
			if wait {
				errs[i] = fmt.Errorf("%s: %w", w.SpawnError, ErrSpawn)
			}
			continue
		}
		f.nextPID++
		w.State, w.PID, w.Started, w.Since, w.SpawnError = events.Running, f.nextPID, time.Now(), time.Now(), ""
	}
	return errs
}

func (f *fakeControl) Signal(_ context.Context, names []string, sig int, actor string) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := make([]error, len(names))
	for i, name := range names {
		f.record("signal %s %d by %s", name, sig, actor)
		switch w, ok := f.workers[name]; {
		case !ok:
			errs[i] = ErrNoWorker
		case w.State != events.Running && w.State != events.Starting && w.State != events.Stopping:
			errs[i] = ErrNotRunning
		case f.fail[name]:
			errs[i] = errors.New("operation not permitted")
		}
	}
	return errs
}

func (f *fakeControl) Reload(_ context.Context, actor string) (a, c, r []string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("reload by %s", actor)
	// Like tend: the reload is applied before it is reported.
	for _, n := range f.reload[0] {
		f.workers[n] = &WorkerInfo{Name: n, State: events.Stopped, Autostart: true}
	}
	for _, n := range f.reload[2] {
		delete(f.workers, n)
	}
	a, c, r = f.reload[0], f.reload[1], f.reload[2]
	f.reload = [3][]string{}
	return a, c, r, nil
}

func (f *fakeControl) Shutdown(actor string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("shutdown by %s", actor)
	f.shutdown = true
	return nil
}

func (f *fakeControl) LogPath(name string, stderr bool) (string, uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.logs[name]
	if stderr && p != "" {
		p += ".err"
	}
	return p, uint32(os.Geteuid())
}

func (f *fakeControl) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]string(nil), f.calls...)
	f.calls = nil
	return out
}

// serve starts a Server over f on a fresh unix socket.
func serve(t *testing.T, f Control, opts Options) (*Server, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(f, opts)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, sock
}
