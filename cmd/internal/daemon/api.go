package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/explain"
	"github.com/tendhq/tend/cmd/internal/query"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/replay"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/logfile"
)

// Bounds on what one client may cost.
const (
	maxBody        = 64 << 10
	maxCommandBody = 1 << 20 // a command naming every one of 10,000 workers fits
	maxHistory     = 100_000
	// defaultStall bounds a command's wait when the client names no
	// timeout: it ends once this long passes in which no worker reaches
	// its target, so `start --all` over 10,000 workers is waited for as
	// long as they keep starting (supervisor.Request.Stall).
	defaultStall = 30 * time.Second
)

// api is the control API: HTTP/JSON over the unix socket. Every request
// carries its peer's credentials; every command is an event whose actor is
// the peer's uid.
type api struct {
	d *Daemon
	// stall is how long a command's wait lasts without progress when the
	// client names no timeout: defaultStall, shorter in tests.
	stall time.Duration
}

func (d *Daemon) handler() http.Handler {
	a := &api{d: d, stall: defaultStall}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"seq": a.d.sup.Seq(), "pid": os.Getpid()})
	})
	mux.HandleFunc("GET /v1/status", a.status)
	mux.HandleFunc("POST /v1/workers/{name}/{verb}", a.command)
	mux.HandleFunc("POST /v1/command", a.commands)
	mux.HandleFunc("POST /v1/reload", a.reload)
	mux.HandleFunc("POST /v1/scale", a.scale)
	mux.HandleFunc("GET /v1/history/{name}", a.history)
	mux.HandleFunc("GET /v1/why/{name}", a.why)
	mux.HandleFunc("GET /v1/events", a.events)
	mux.HandleFunc("GET /v1/logs/{name}", a.logs)
	mux.HandleFunc("GET /v1/replay", a.replay)
	mux.HandleFunc("GET /v1/verify", a.verify)
	mux.HandleFunc("GET /v1/log", a.copyLog)
	mux.Handle("GET /debug/pprof/", a.debugHandler())
	return a.authorize(mux)
}

// authorize serves only connections that came through the socket's
// peer.Listener, which applied the uid rule (root, the daemon's own uid,
// members of the socket group) before anything was read, and recorded the
// refusal of anyone else, without the request's payload.
func (a *api) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := peerOf(r.Context()); !ok {
			fail(w, http.StatusForbidden, "refused", errors.New("no peer credentials"))
			return
		}
		if r.URL.Path != "/v1/command" { // it sets its own, larger bound
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// writeJSON answers v whole, with its length: the client reads it into
// one buffer of that size (a status of thousands of workers is a few
// hundred KB, and each page a short-lived client touches costs it a
// fault).
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fail(w, http.StatusInternalServerError, "failed", err)
		return
	}
	b = append(b, '\n') // as json.Encoder ends a value
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func fail(w http.ResponseWriter, status int, code string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(client.ErrorBody{Error: err.Error(), Code: code})
}

// failErr maps an error to its status and code.
func failErr(w http.ResponseWriter, err error) {
	code, status := errorCode(err)
	fail(w, status, code, err)
}

func (a *api) status(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bufs := a.d.statusBufs.get()
	defer func() { a.d.statusBufs.put(bufs, time.Now()) }()
	views, seq, err := a.d.sup.AppendViews(bufs.views, q["name"])
	// The views name the world's strings: the slice kept for the next
	// answer holds none of them.
	defer clear(views)
	bufs.views = views
	if err != nil {
		fail(w, http.StatusNotFound, "no_such_worker", err)
		return
	}
	if cap(bufs.out) < statusOut {
		bufs.out = make([]byte, 0, statusOut)
	}
	ans := answer{w: w}
	w.Header().Set("Content-Type", "application/json")
	var b []byte
	if q.Get("view") == client.ViewWorkers {
		// The workers as `tend status -o json` prints them: the client
		// copies these bytes to its output.
		w.Header().Set(client.ViewHeader, client.ViewWorkers)
		b, err = appendStatus(bufs.out[:0], views, ans.spill)
		b = append(b, '\n')
	} else {
		// Said before any is sent: the client makes room for them once.
		w.Header().Set(client.WorkersHeader, strconv.Itoa(len(views)))
		out := client.Status{Seq: seq, LogFailure: a.d.sup.LogFailure(), Tracking: a.d.tracking.status()}
		a.d.out.status(&out)
		b, err = appendWholeStatus(bufs.out[:0], &out, views, ans.spill)
	}
	bufs.out = b[:0]
	if err != nil {
		ans.fail(err)
		return
	}
	ans.finish(b)
}

// statusOut is the room a status answer is encoded in: it is sent each
// time it holds client.SpillAt bytes, the last worker's included.
const statusOut = client.SpillAt + 16<<10

// answer sends a status as it is encoded: whole, with its length, when it
// fits in one spill, or else in chunks, one per spill. A status of 10,000
// workers is 3 MB, which the daemon encoded whole first: a buffer that
// large is pages the kernel maps afresh whenever the daemon has handed its
// free memory back, 800 faults each time.
type answer struct {
	w       http.ResponseWriter
	started bool // a spill was sent: the answer's head is gone
}

func (s *answer) spill(b []byte) ([]byte, error) {
	s.started = true
	if _, err := s.w.Write(b); err != nil {
		return b, err
	}
	return b[:0], nil
}

// finish sends the rest, b.
func (s *answer) finish(b []byte) {
	if !s.started {
		s.w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	}
	_, _ = s.w.Write(b)
}

// fail answers err, or, once part of the answer is sent, cuts the
// connection: the client then reads an answer cut short, an error, not a
// status that lacks some workers.
func (s *answer) fail(err error) {
	if !s.started {
		fail(s.w, http.StatusInternalServerError, "failed", err)
		return
	}
	panic(http.ErrAbortHandler)
}

// appendWholeStatus appends the answer to GET /v1/status: st with views
// as its workers, as writeJSON would write it (st.Workers is nil). The
// daemon's own fields are encoding/json's; the workers, last, are
// encoded by hand in the same compact form, without a WorkerStatus each
// and without reflection (a third of a status table's time at 10,000
// workers).
func appendWholeStatus(dst []byte, st *client.Status, views []supervisor.WorkerView, spill client.Spill) ([]byte, error) {
	head, err := json.Marshal(st)
	if err != nil {
		return dst, err
	}
	const last = `"workers":null}`
	if !bytes.HasSuffix(head, []byte(last)) {
		return dst, errors.New("status: the workers are not its last member")
	}
	dst = append(dst, head[:len(head)-len("null}")]...)
	var sc statusScratch
	dst, err = client.AppendCompact(dst, len(views), func(i int, ws *client.WorkerStatus) *client.WorkerStatus {
		workerStatus(ws, &views[i], &sc)
		return ws
	}, spill)
	if err != nil {
		return dst, err
	}
	return append(dst, "}\n"...), nil // as writeJSON ends it
}

// appendStatus appends views as `tend status -o json` prints them,
// without a WorkerStatus for each.
func appendStatus(dst []byte, views []supervisor.WorkerView, spill client.Spill) ([]byte, error) {
	var sc statusScratch
	return client.AppendEach(dst, len(views), func(i int, st *client.WorkerStatus) *client.WorkerStatus {
		workerStatus(st, &views[i], &sc)
		return st
	}, spill)
}

// statusScratch holds what a WorkerStatus points to: one serves every
// worker of an answer encoded as it is filled.
type statusScratch struct {
	due, waitSince, nextRun time.Time
	exit                    client.ExitInfo
}

// workerStatus fills st with what status shows of one worker, as
// query.WorkerStatus does from the whole fsm.Worker, pointing into sc.
func workerStatus(st *client.WorkerStatus, v *supervisor.WorkerView, sc *statusScratch) {
	group, _, _ := events.SplitInstance(v.Name)
	*st = client.WorkerStatus{
		Name: v.Name, Group: group, State: v.State.String(), PID: v.PID, Incarnation: uint64(v.Incarnation),
		Restarts: v.Restarts, Since: v.Since, Cause: v.Cause, Actor: v.Actor, Health: v.Health,
		BreakerOpen: v.BreakerOpen, StatusText: v.Status,
	}
	if v.RestartPending {
		sc.due = v.RestartDue
		st.RestartDue = &sc.due
	}
	if v.Waiting != "" {
		sc.waitSince = v.WaitSince
		st.Waiting, st.WaitingFor, st.WaitingSince = v.Waiting, v.WaitCause, &sc.waitSince
	}
	if x := v.LastExit; x != nil {
		sc.exit = client.ExitInfo{Incarnation: uint64(x.Incarnation), Code: x.Code, Lost: x.Lost, At: x.At, Cause: x.Cause}
		if x.Signal != 0 {
			sc.exit.Signal = events.SignalName(x.Signal)
		}
		st.LastExit = &sc.exit
	}
	if !v.NextRun.IsZero() {
		sc.nextRun = v.NextRun
		st.NextRun = &sc.nextRun
	}
	if v.Tracked {
		st.Tracking, st.Cgroup = modePgroup, v.Cgroup
		if v.Cgroup != "" {
			st.Tracking = modeCgroup
		}
	}
	if v.Sampled {
		st.RSSBytes = v.Sample.RSS
		if v.Sample.CPUValid {
			st.CPUPercent = v.Sample.CPU
		}
	}
}

// commands runs start, stop or restart on many workers as one command of
// the command layer (supervisor.Do): judged as one decision, durable in one
// commit, answered once, one result per worker in the order asked.
func (a *api) commands(w http.ResponseWriter, r *http.Request) {
	var req client.CommandRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCommandBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "bad_request", fmt.Errorf("bad command: %v", err))
		return
	}
	a.run(w, r, req, false)
}

// command is the one-worker form: POST /v1/workers/NAME/VERB?wait=1&timeout=30s
// (&signal=HUP for the verb signal).
func (a *api) command(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.run(w, r, client.CommandRequest{Verb: r.PathValue("verb"), Workers: []string{r.PathValue("name")},
		Wait: q.Get("wait") == "1", Timeout: q.Get("timeout"), Signal: q.Get("signal")}, true)
}

// run judges req through the command layer. one: the one-worker form,
// which answers a refusal with its status and a result on its own.
func (a *api) run(w http.ResponseWriter, r *http.Request, req client.CommandRequest, one bool) {
	p, _ := peerOf(r.Context())
	verb, err := core.ParseVerb(req.Verb)
	if err != nil {
		fail(w, http.StatusNotFound, "bad_request", err)
		return
	}
	var sig int
	switch {
	case verb == core.SendSignal:
		if sig, err = events.ParseSignal(req.Signal); err != nil {
			fail(w, http.StatusBadRequest, "bad_signal", err)
			return
		}
	case req.Signal != "":
		fail(w, http.StatusBadRequest, "bad_request", fmt.Errorf("a signal is named only with the verb signal, not %s", verb))
		return
	}
	if req.All == (len(req.Workers) > 0) {
		fail(w, http.StatusBadRequest, "bad_request", errors.New("name workers or ask for all (not both)"))
		return
	}
	ctx, stall := r.Context(), a.stall
	if req.Timeout != "" {
		d, err := time.ParseDuration(req.Timeout)
		if err != nil || d <= 0 {
			fail(w, http.StatusBadRequest, "bad_request", fmt.Errorf("bad timeout %q", req.Timeout))
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
		stall = 0
	}
	rs, err := a.d.sup.Do(ctx, supervisor.Request{Verb: verb, Workers: a.instancesOf(req.Workers), All: req.All, Actor: actor(p), Wait: req.Wait,
		NoDeps: req.NoDeps, Signal: sig, Stall: stall})
	if err != nil {
		failErr(w, err)
		return
	}
	if one && len(rs) == 1 && rs[0].Err != nil {
		failErr(w, rs[0].Err)
		return
	}
	out := client.CommandReply{Results: make([]client.CommandResult, len(rs))}
	for i, x := range rs {
		res := client.CommandResult{Worker: x.Worker, Reached: x.Reached, Reason: x.Reason}
		switch {
		case x.Err != nil:
			code, _ := errorCode(x.Err)
			res.Error = &client.ErrorBody{Error: x.Err.Error(), Code: code}
		default:
			res.Did = x.Verb.String()
			if x.Event != nil {
				j := x.Event.ToJSON()
				res.Event = &j
			}
			if x.Answer != nil {
				j := x.Answer.ToJSON()
				res.Outcome = &j
			}
			res.Status = query.WorkerStatus(&x.Status)
		}
		out.Results[i] = res
	}
	if one && len(out.Results) == 1 {
		writeJSON(w, out.Results[0])
		return
	}
	writeJSON(w, out)
}

// instancesOf replaces the name of a worker with instances by its
// instances, in number order (tend restart web: web@1, web@2, …); other
// names stay as they are.
func (a *api) instancesOf(names []string) []string {
	ws, _ := a.d.sup.Workers()
	known := make(map[string]bool, len(ws))
	group := map[string][]string{}
	for i := range ws {
		known[ws[i].Name] = true
		if g, _, ok := core.SplitInstance(ws[i].Name); ok {
			group[g] = append(group[g], ws[i].Name)
		}
	}
	var out []string
	for _, n := range names {
		if is := group[n]; !known[n] && len(is) > 0 {
			slices.SortFunc(is, func(x, y string) int {
				_, i, _ := core.SplitInstance(x)
				_, j, _ := core.SplitInstance(y)
				return i - j
			})
			out = append(out, is...)
			continue
		}
		out = append(out, n)
	}
	return out
}

// errorCode is the code and HTTP status of an error, as every answer
// names it.
func errorCode(err error) (string, int) {
	switch {
	case errors.Is(err, supervisor.ErrNoWorker):
		return "no_such_worker", http.StatusNotFound
	case errors.Is(err, core.ErrNotRunning):
		return "not_running", http.StatusConflict
	case errors.Is(err, core.ErrBadSignal), errors.Is(err, events.ErrBadSignal):
		return "bad_signal", http.StatusBadRequest
	case errors.Is(err, fsm.ErrIllegal):
		return "illegal", http.StatusConflict
	case errors.Is(err, supervisor.ErrClosed):
		return "unavailable", http.StatusServiceUnavailable
	}
	return "failed", http.StatusInternalServerError
}

func (a *api) reload(w http.ResponseWriter, r *http.Request) {
	p, _ := peerOf(r.Context())
	var res any
	var err error
	if r.URL.Query().Get("dry_run") == "1" {
		res, err = a.d.PlanReload()
	} else {
		res, err = a.d.Reload(r.Context(), actor(p))
	}
	if err != nil {
		var le *loadError
		if errors.As(err, &le) {
			fail(w, http.StatusBadRequest, "bad_config", err)
			return
		}
		failErr(w, err)
		return
	}
	writeJSON(w, res)
}

// scale changes the number of instances of a worker with instances; the
// actor is the caller's uid.
func (a *api) scale(w http.ResponseWriter, r *http.Request) {
	p, _ := peerOf(r.Context())
	var req client.ScaleRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "bad_request", fmt.Errorf("bad scale request: %v", err))
		return
	}
	res, err := a.d.Scale(r.Context(), req.Worker, req.Instances, actor(p))
	var le *loadError
	var br *badRequest
	switch {
	case errors.As(err, &le):
		fail(w, http.StatusBadRequest, "bad_config", err)
	case errors.As(err, &br):
		fail(w, http.StatusBadRequest, "bad_request", err)
	case err != nil:
		failErr(w, err)
	default:
		writeJSON(w, res)
	}
}

func (a *api) history(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	q := r.URL.Query()
	limit := maxHistory
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 {
			fail(w, http.StatusBadRequest, "bad_request", fmt.Errorf("bad limit %q", l))
			return
		}
		limit = min(n, maxHistory)
	}
	var since time.Time
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			fail(w, http.StatusBadRequest, "bad_request", fmt.Errorf("bad since %q", s))
			return
		}
		since = t
	}
	evs, err := replay.History(a.d.log, name, since, limit)
	if err != nil {
		failErr(w, err)
		return
	}
	out := make([]events.JSON, len(evs))
	for i := range evs {
		out[i] = evs[i].ToJSON()
	}
	writeJSON(w, out)
}

func (a *api) why(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	wk, err := a.d.sup.Worker(name)
	if err != nil {
		failErr(w, err)
		return
	}
	hist, err := a.d.log.WorkerTail(name, 500)
	if err != nil {
		failErr(w, err)
		return
	}
	writeJSON(w, explain.Why(&wk, hist))
}

// events streams events as JSON lines. With follow=1 it keeps the
// connection open and sends new events as they become durable; a client
// resumes without loss by passing from = last seq seen + 1.
func (a *api) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter, err := parseFilter(q.Get("worker"), q.Get("type"))
	if err != nil {
		fail(w, http.StatusBadRequest, "bad_request", err)
		return
	}
	from := events.Seq(1)
	if f := q.Get("from"); f != "" {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			fail(w, http.StatusBadRequest, "bad_request", fmt.Errorf("bad from %q", f))
			return
		}
		from = events.Seq(n)
	}
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			fail(w, http.StatusBadRequest, "bad_request", fmt.Errorf("bad since %q", s))
			return
		}
		seq, err := a.d.log.SeqAt(t)
		if err != nil {
			failErr(w, err)
			return
		}
		from = max(from, seq+1)
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriter(w)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(bw)
	send := func(e *events.Event) error {
		if !filter(e) {
			return nil
		}
		return enc.Encode(e.ToJSON())
	}
	if q.Get("follow") != "1" {
		_ = a.d.log.Scan(from, a.d.sup.Seq(), send)
		_ = bw.Flush()
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = a.d.sup.Follow(r.Context(), from, func(e *events.Event) error {
		if err := send(e); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	})
}

// parseFilter builds the worker/type filter of events.
func parseFilter(worker, typ string) (func(*events.Event) bool, error) {
	var t events.Type
	if typ != "" {
		var err error
		if t, err = events.ParseType(typ); err != nil {
			return nil, err
		}
	}
	return func(e *events.Event) bool {
		return (worker == "" || e.Worker == worker) && (typ == "" || e.Type == t)
	}, nil
}

// logs serves a worker's output file: the last n lines, then with follow=1
// whatever is appended. The file is opened and followed through logfile,
// so a link or a FIFO the worker planted at its name is refused, not read.
func (a *api) logs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	spec := a.d.sup.Spec(name)
	if spec == nil {
		failErr(w, fmt.Errorf("%w: %q", supervisor.ErrNoWorker, name))
		return
	}
	q := r.URL.Query()
	path := spec.Stdout
	if q.Get("stderr") == "1" {
		path = spec.Stderr
	}
	n := 20
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			fail(w, http.StatusBadRequest, "bad_request", fmt.Errorf("bad n %q", s))
			return
		}
		n = v
	}
	follow := q.Get("follow") == "1"
	if path == supervisor.Console {
		fail(w, http.StatusConflict, "no_log", fmt.Errorf("output of %s goes to the daemon's own stdout or stderr (\"-\"): read it where the daemon's output goes (docker logs, journalctl)", name))
		return
	}
	fl := logfile.NewFollower(path, outputOwner(spec))
	defer fl.Close()
	// A file not made yet is empty, and followed until it is; output to
	// /dev/null is empty.
	if err := fl.Open(logfile.LastLines(n)); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, logfile.ErrNoLog) {
		if errors.Is(err, logfile.ErrUnsafe) {
			fail(w, http.StatusForbidden, "refused", fmt.Errorf("output of %s: %w", name, err))
		} else {
			fail(w, http.StatusInternalServerError, "failed", fmt.Errorf("output of %s: %w", name, err))
		}
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	var err error
	if follow {
		err = fl.Follow(r.Context(), 200*time.Millisecond, w, func() { _ = rc.Flush() })
	} else {
		_, err = fl.Poll(w)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		a.d.logger.Debug().Err(err).Str("worker", name).Msg("logs")
	}
}

// outputOwner is the uid that may own a worker's output files besides
// root and the daemon: the worker's.
func outputOwner(spec *supervisor.WorkerSpec) uint32 {
	if spec.Credential != nil {
		return spec.Credential.Uid
	}
	return uint32(os.Geteuid())
}

func (a *api) replay(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	res, err := query.ReplayAt(a.d.log, q.Get("at"), q.Get("seq"))
	var bad *query.BadQuery
	switch {
	case errors.As(err, &bad):
		fail(w, http.StatusBadRequest, "bad_request", err)
		return
	case err != nil:
		failErr(w, err)
		return
	}
	writeJSON(w, res)
}

// copyLog streams a consistent copy of the log file, so that what reads a
// log (report, analyze, history on a copy) works while the daemon holds it.
func (a *api) copyLog(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/octet-stream")
	if _, err := a.d.log.CopyTo(w); err != nil {
		a.d.logger.Warn().Err(err).Msg("copy of the log to a client")
	}
}

func (a *api) verify(w http.ResponseWriter, r *http.Request) {
	rep, err := a.d.log.Verify(nil)
	if err != nil {
		failErr(w, err)
		return
	}
	writeJSON(w, rep)
}
