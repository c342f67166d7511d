package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

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
func fake(t *testing.T, raw string) string { return fakeBytes(t, []byte(raw)) }

// fakeBytes is fake, allocating nothing to answer: a test may count what
// the client allocates.
func fakeBytes(t *testing.T, raw []byte) string {
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
				_, _ = conn.Write(raw)
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
	// whole answer, which status must not pass as if it were.
	c := New(fake(t, "HTTP/1.1 200 OK\r\n"+ViewHeader+": "+ViewWorkers+"\r\nContent-Length: 100\r\n\r\n[]\n"))
	var b strings.Builder
	if err := c.WriteStatusJSON(context.Background(), &b); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a workers view cut short was taken whole: %q, %v", b.String(), err)
	}
	// A chunked answer as net/http writes it, with a trailer.
	c = New(fake(t, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n{\"seq\":4}\r\n0\r\nX-T: 1\r\n\r\n"))
	if st, err := c.Status(context.Background()); err != nil || st.Seq != 4 {
		t.Errorf("chunked with a trailer: %+v %v", st, err)
	}
}

// workersView is a daemon's answer with the workers view: n bytes of
// body, and the Content-Length its head says.
func workersView(n, length int) (raw, body string) {
	body = strings.Repeat("[\"0123456789abcdef\"]\n", n/20+1)[:n]
	return "HTTP/1.1 200 OK\r\n" + ViewHeader + ": " + ViewWorkers + "\r\nContent-Length: " + fmt.Sprint(length) + "\r\n\r\n" + body, body
}

// `tend status -o json` passes the daemon's bytes on as they arrive, to a
// pipe (spliced), a file or anything else, and holds none of a 4 MB answer:
// at 10,000 workers the answer is 3 MB, and each page a short-lived client
// touches costs it a fault. Cut short, what arrived was passed on, and the
// error says the rest is missing.
func TestStatusJSONStreams(t *testing.T) {
	const size = 4 << 20
	whole, body := workersView(size, size)
	short, _ := workersView(size/2, size)
	for _, dest := range []string{"pipe", "file", "writer"} {
		for _, cut := range []bool{false, true} {
			raw, want := whole, body
			if cut {
				raw, want = short, body[:size/2]
			}
			c := New(fakeBytes(t, []byte(raw)))
			var got []byte
			var err error
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			switch dest {
			case "pipe":
				r, w, perr := os.Pipe()
				if perr != nil {
					t.Fatal(perr)
				}
				read := make(chan []byte)
				buf := make([]byte, size+1)
				go func() {
					n := 0
					for {
						m, err := r.Read(buf[n:])
						n += m
						if err != nil {
							read <- buf[:n]
							return
						}
					}
				}()
				runtime.ReadMemStats(&m0)
				err = c.WriteStatusJSON(context.Background(), w)
				w.Close()
				runtime.ReadMemStats(&m1)
				got = <-read
				r.Close()
			case "file":
				f, ferr := os.Create(filepath.Join(t.TempDir(), "out.json"))
				if ferr != nil {
					t.Fatal(ferr)
				}
				err = c.WriteStatusJSON(context.Background(), f)
				runtime.ReadMemStats(&m1)
				f.Close()
				got, _ = os.ReadFile(f.Name())
			case "writer":
				var b bytes.Buffer
				b.Grow(size + 1)
				runtime.ReadMemStats(&m0)
				err = c.WriteStatusJSON(context.Background(), &b)
				runtime.ReadMemStats(&m1)
				got = b.Bytes()
			}
			if cut != errors.Is(err, io.ErrUnexpectedEOF) || !cut && err != nil {
				t.Errorf("%s, cut short %v: %v", dest, cut, err)
			}
			if cut && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("cut short after %d of %d bytes", size/2, size))) {
				t.Errorf("%s: the error does not say how much arrived: %v", dest, err)
			}
			if string(got) != want {
				t.Errorf("%s, cut short %v: %d bytes passed on, want %d", dest, cut, len(got), len(want))
			}
			if held := m1.TotalAlloc - m0.TotalAlloc; held > 256<<10 {
				t.Errorf("%s, cut short %v: the client allocated %d KiB for a %d KiB answer", dest, cut, held>>10, size>>10)
			}
		}
	}
}

// A reader of the pipe that went away is EPIPE, for the command to end on
// as any writer to a closed pipe does.
func TestStatusJSONToAClosedPipe(t *testing.T) {
	raw, _ := workersView(1<<20, 1<<20)
	c := New(fake(t, raw))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	if err := c.WriteStatusJSON(context.Background(), w); !errors.Is(err, syscall.EPIPE) || !errors.Is(err, ErrReaderGone) {
		t.Fatalf("to a pipe nobody reads: %v, want EPIPE as ErrReaderGone", err)
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

// A daemon that closes the connection before it answers (it was stopped,
// or it crashed mid-command) is named as such, never "no daemon", and a
// command's error says its outcome is the log's to tell: it may have been
// made durable just before the daemon went.
func TestAHangUpSaysSo(t *testing.T) {
	c := New(fake(t, ""))
	_, err := c.Status(context.Background())
	if !errors.Is(err, ErrHungUp) || errors.Is(err, ErrNoDaemon) || strings.Contains(err.Error(), "recorded") {
		t.Errorf("status from a daemon that hung up: %v", err)
	}
	_, err = c.Commands(context.Background(), CommandRequest{Verb: "stop", All: true})
	if !errors.Is(err, ErrHungUp) || !strings.Contains(err.Error(), "may or may not have been recorded") {
		t.Errorf("stop --all to a daemon that hung up: %v", err)
	}
}

// A status streamed in chunks, as the daemon sends it, is read whole, and
// read through buffers that double: append grows a large one by a
// quarter at a time, which read a status of 3 MB through 16 MB of
// buffers. The workers' slice is made once, for as many as the answer
// holds.
func TestStreamedStatusReadWhole(t *testing.T) {
	const n = 6000
	var body strings.Builder
	body.WriteString(`{"seq":9,"workers":[`)
	for i := range n {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"name":"w%05d","state":"Running","pid":%d,"incarnation":1,"restarts":0,"since":"2026-12-07T15:37:56.228540279Z","cause":"up for 1s (start_timeout): running","actor":"daemon"}`, i, 1000+i)
	}
	body.WriteString(`]}`)
	var raw bytes.Buffer
	raw.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
	for b := body.String(); b != ""; {
		k := min(len(b), 64<<10)
		fmt.Fprintf(&raw, "%x\r\n%s\r\n", k, b[:k])
		b = b[k:]
	}
	raw.WriteString("0\r\n\r\n")
	c := New(fakeBytes(t, raw.Bytes()))
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	st, err := c.Status(context.Background())
	runtime.ReadMemStats(&m1)
	if err != nil || len(st.Workers) != n || st.Workers[n-1].Name != fmt.Sprintf("w%05d", n-1) || st.Workers[n-1].PID != 1000+n-1 {
		t.Fatalf("%d workers read (%v)", len(st.Workers), err)
	}
	if cap(st.Workers) != n {
		t.Errorf("room made for %d workers, %d came", cap(st.Workers), n)
	}
	slice := n * int(unsafe.Sizeof(WorkerStatus{}))
	if held, bound := m1.TotalAlloc-m0.TotalAlloc, uint64(4*body.Len()+slice+n*64); held > bound {
		t.Errorf("the client allocated %d KiB for a %d KiB answer of %d workers, more than %d KiB", held>>10, body.Len()>>10, n, bound>>10)
	}
	// When the daemon says how many workers follow, the body is read into
	// one buffer made for them: never grown, never copied.
	hinted := bytes.Replace(raw.Bytes(), []byte("\r\n\r\n"), []byte(fmt.Sprintf("\r\n%s: %d\r\n\r\n", WorkersHeader, n)), 1)
	resp, err := New(fakeBytes(t, hinted)).do(context.Background(), "GET", "/v1/status", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := readAll(resp)
	if err != nil || string(b) != body.String() {
		t.Fatalf("read %d bytes (%v), want %d", len(b), err, body.Len())
	}
	if room := n*768 + 64<<10; cap(b) != room {
		t.Errorf("read into a buffer of %d bytes, want the one made for %d workers, %d", cap(b), n, room)
	}
	// The count is the other end's word: one past the bounds makes no
	// room for it, and the status is still read whole.
	for _, lie := range []string{"99999999", "-5", "many"} {
		lying := bytes.Replace(raw.Bytes(), []byte("\r\n\r\n"), []byte(fmt.Sprintf("\r\n%s: %s\r\n\r\n", WorkersHeader, lie)), 1)
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		st, err := New(fakeBytes(t, lying)).Status(context.Background())
		runtime.ReadMemStats(&m1)
		if err != nil || len(st.Workers) != n {
			t.Fatalf("%s: %s: %d workers read (%v)", WorkersHeader, lie, len(st.Workers), err)
		}
		if held, bound := m1.TotalAlloc-m0.TotalAlloc, uint64(4*body.Len()+slice+n*64); held > bound {
			t.Errorf("%s: %s: the client allocated %d KiB, more than %d KiB", WorkersHeader, lie, held>>10, bound>>10)
		}
	}
}
