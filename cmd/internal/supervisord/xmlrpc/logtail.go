package xmlrpc

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// tailHead is how much of the existing file a tail starts with, as in
// supervisord's tail_f_producer.
const tailHead = 1024

// serveLogtail streams /logtail/NAME[/CHANNEL] like supervisord: the last
// 1 KiB, then whatever is appended, until the client goes or the server
// closes. A rotated file (new inode) is followed from its start; a
// truncated one is announced with supervisord's "==> File truncated <==".
func (s *Server) serveLogtail(w http.ResponseWriter, r *http.Request) {
	if _, ok := actorOf(r); !ok {
		http.Error(w, "peer credentials unavailable", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	rest := strings.TrimLeft(strings.TrimPrefix(r.URL.Path, "/logtail"), "/")
	if u, err := url.PathUnescape(rest); err == nil {
		rest = u
	}
	name, channel, ok := strings.Cut(rest, "/")
	if !ok {
		channel = "stdout"
	}
	if channel != "stdout" && channel != "stderr" {
		http.NotFound(w, r)
		return
	}
	path, f := s.logFile(name, channel == "stderr")
	if f != nil || path == "" {
		http.NotFound(w, r)
		return
	}
	t, err := openTail(path)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer func() { t.f.Close() }()

	w.Header().Set("Content-Type", "text/plain;charset=utf-8")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if sz, err := t.size(); err == nil && sz >= tailHead {
		t.pos = sz - tailHead
	}
	tick := time.NewTicker(s.opts.TailInterval)
	defer tick.Stop()
	buf := make([]byte, 32<<10)
	for {
		t.follow(path)
		sz, err := t.size()
		if err != nil {
			return
		}
		switch {
		case sz < t.pos:
			t.pos = 0
			if _, err := io.WriteString(w, "==> File truncated <==\n"); err != nil {
				return
			}
		case sz > t.pos:
			for t.pos < sz {
				n, err := t.f.ReadAt(buf[:min(int64(len(buf)), sz-t.pos)], t.pos)
				if n > 0 {
					if _, werr := w.Write(buf[:n]); werr != nil {
						return
					}
					t.pos += int64(n)
				}
				if err != nil {
					break
				}
			}
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

type tail struct {
	f   *os.File
	ino uint64
	pos int64
}

func openTail(path string) (*tail, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	t := &tail{f: f}
	if st, err := f.Stat(); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			t.ino = sys.Ino
		}
	}
	return t, nil
}

func (t *tail) size() (int64, error) {
	st, err := t.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// follow reopens the file when the path now names another inode (it was
// rotated); the new file is read from its start.
func (t *tail) follow(path string) {
	st, err := os.Stat(path)
	if err != nil {
		return
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Ino == t.ino {
		return
	}
	nt, err := openTail(path)
	if err != nil {
		return
	}
	t.f.Close()
	*t = *nt
}
