package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// serve answers GET /v1/status on a Unix socket with h.
func serve(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "tend.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c := New(sock)
	t.Cleanup(c.Close)
	return c
}

var twoWorkers = []WorkerStatus{
	{Name: "web", State: "Running", PID: 10, Incarnation: 2, Since: time.Date(2026, 12, 6, 3, 14, 0, 5, time.UTC), Cause: "a <b> & c", Actor: "daemon"},
	{Name: "job", State: "Stopped", Since: time.Date(2026, 12, 6, 3, 15, 0, 0, time.UTC), Cause: "exited", Actor: "operator"},
}

// What `tend status -o json` prints is the same whether the daemon sends
// the workers as printed or, as a daemon before that did, its whole status.
func TestStatusJSONPrintsTheSameFromEitherDaemon(t *testing.T) {
	want, err := json.MarshalIndent(twoWorkers, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')

	var asked string
	current := serve(t, func(w http.ResponseWriter, r *http.Request) {
		asked = r.URL.Query().Get("view")
		b, err := AppendWorkers(nil, twoWorkers)
		if err != nil {
			t.Error(err)
		}
		w.Header().Set(ViewHeader, ViewWorkers)
		w.Write(append(b, '\n'))
	})
	before := serve(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(Status{Seq: 7, Workers: twoWorkers})
	})
	for name, c := range map[string]*Client{"current daemon": current, "daemon before views": before} {
		var got bytes.Buffer
		err := c.WriteStatusJSON(context.Background(), &got)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.String() != string(want) {
			t.Errorf("%s printed\n%s\nwant\n%s", name, got.String(), want)
		}
	}
	if asked != ViewWorkers {
		t.Errorf("the client asked for view %q, want %q", asked, ViewWorkers)
	}
}
