package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
)

// listen serves h on a unix socket in a temporary directory.
func listen(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return sock
}

// The client reads what net/http's server writes: a body of a known
// length, a streamed (chunked) one flushed line by line, an error answer,
// and a POST's body arrives whole.
func TestWireAgainstNetHTTP(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/status", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"seq":7,"workers":[{"name":%q}]}`, r.URL.Query().Get("name"))
	})
	mux.HandleFunc("/v1/events", func(w http.ResponseWriter, r *http.Request) {
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, `{"seq":%d,"worker":"a"}`+"\n", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/v1/command", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || !strings.Contains(string(b), `"verb":"stop"`) {
			http.Error(w, "bad request: "+string(b), 400)
			return
		}
		w.WriteHeader(404)
		fmt.Fprint(w, `{"error":"no such worker: \"x\"","code":"no_such_worker"}`)
	})
	c := New(listen(t, mux))
	ctx := context.Background()
	st, err := c.Status(ctx, "web")
	if err != nil || st.Seq != 7 || len(st.Workers) != 1 || st.Workers[0].Name != "web" {
		t.Fatalf("status: %+v %v", st, err)
	}
	var seqs []uint64
	err = c.Events(ctx, 1, false, "", "", time.Time{}, func(e events.JSON) error { seqs = append(seqs, uint64(e.Seq)); return nil })
	if err != nil || fmt.Sprint(seqs) != "[1 2 3]" {
		t.Fatalf("events: %v %v", seqs, err)
	}
	_, err = c.Commands(ctx, CommandRequest{Verb: "stop", Workers: []string{"x"}})
	if !IsNoWorker(err) {
		t.Fatalf("command on a missing worker: %v, want no_such_worker", err)
	}
}

// fake answers every connection with raw, after reading the request.
func fake(t *testing.T, raw string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					l, err := br.ReadString('\n')
					if err != nil || l == "\r\n" {
						break
					}
				}
				_, _ = io.WriteString(conn, raw)
			}()
		}
	}()
	return sock
}

// Whoever answers on the socket may not be the daemon: an answer that is
// not HTTP, a header without end, a chunk longer than it says, a body cut
// short are errors that say so, never a hang or an unbounded read.
func TestWireRefusesBadAnswers(t *testing.T) {
	long := strings.Repeat("x", 2*maxHeaderLine)
	many := strings.Repeat("X-A: b\r\n", maxHeaderLines+1)
	for name, raw := range map[string]string{
		"not http":     "SSH-2.0-OpenSSH\r\n\r\n",
		"long line":    "HTTP/1.1 200 OK\r\nX-Long: " + long + "\r\n\r\n{}",
		"many headers": "HTTP/1.1 200 OK\r\n" + many + "\r\n{}",
		"bad chunk":    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
		"long chunk":   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{}\r\n0\r\n\r\n",
		"cut short":    "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"seq\":",
		"no head end":  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
	} {
		c := New(fake(t, raw))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.Status(ctx)
		cancel()
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v, want an error naming the bad answer", name, err)
		}
	}
	// The workers as printed, cut short: valid bytes so far, but not the
	// whole answer, which status must not print as if it were.
	c := New(fake(t, "HTTP/1.1 200 OK\r\n"+ViewHeader+": "+ViewWorkers+"\r\nContent-Length: 100\r\n\r\n[]\n"))
	if b, err := c.StatusJSON(context.Background()); err == nil {
		t.Errorf("a workers view cut short was taken whole: %q", b)
	}
	// A chunked answer as net/http writes it, with a trailer.
	c = New(fake(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n{\"seq\":4}\r\n0\r\nX-T: 1\r\n\r\n"))
	if st, err := c.Status(context.Background()); err != nil || st.Seq != 4 {
		t.Errorf("chunked with a trailer: %+v %v", st, err)
	}
}

// A context that ends while the answer streams ends the read.
func TestWireContextEndsStream(t *testing.T) {
	sock := listen(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"seq":1}`)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- New(sock).Events(ctx, 1, false, "", "", time.Time{}, func(events.JSON) error { cancel(); return nil })
	}()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("events after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled stream did not end")
	}
}
