package daemon

import (
	"errors"
	"net/http"
	"net/http/pprof"
)

// debugHandler serves Go's runtime profiles (heap, CPU, goroutines) on the
// control socket, for finding where a daemon's memory and time go at scale
// (`curl --unix-socket SOCK http://tend/debug/pprof/heap`). Only root and the
// daemon's own uid may read them: a profile names no worker and holds no
// output, but a CPU profile costs the daemon CPU while it runs, which a
// member of the socket group should not be able to ask for.
func (a *api) debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := peerOf(r.Context())
		if !ok || (p.UID != 0 && p.UID != a.d.uid) {
			fail(w, http.StatusForbidden, "refused", errors.New("profiles are for root and the daemon's own user"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}
