package xmlrpc

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/tendhq/tend/supervisor/logfile"
)

// tailHead is how much of the existing file a tail starts with, as in
// supervisord's tail_f_producer.
const tailHead = 1024

// serveLogtail streams /logtail/NAME[/CHANNEL] like supervisord: the last
// 1 KiB, then whatever is appended, until the client goes or the server
// closes. It reads through logfile's Follower: a rotated file (another one
// at the path) is followed from its start; a truncated one is announced
// with supervisord's "==> File truncated <=="; a link or FIFO a worker
// planted at the path is never read.
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
	path, uid, f := s.logFile(name, channel == "stderr")
	if f != nil || path == "" {
		http.NotFound(w, r)
		return
	}
	fl := logfile.NewFollower(path, uid)
	defer fl.Close()
	fl.TruncatedMark = "==> File truncated <==\n"
	if err := fl.Open(logfile.LastBytes(tailHead)); err != nil {
		http.NotFound(w, r)
		return
	}

	w.Header().Set("Content-Type", "text/plain;charset=utf-8")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flush := func() {}
	if flusher, ok := w.(http.Flusher); ok {
		flush = flusher.Flush
	}
	// The stream ends with the client or with the server.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	_ = fl.Follow(ctx, s.opts.TailInterval, w, flush)
}
