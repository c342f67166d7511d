package xmlrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/supervisor/logfile"
)

// apiVersion is what supervisorctl 3.x and 4.x insist on.
const apiVersion = "3.0"

// methods lists what dispatch serves, for system.listMethods.
func methods() []string {
	m := []string{
		"system.listMethods", "system.methodHelp", "system.methodSignature", "system.multicall",
		"supervisor.getAPIVersion", "supervisor.getVersion", "supervisor.getSupervisorVersion",
		"supervisor.getIdentification", "supervisor.getState", "supervisor.getPID",
		"supervisor.getProcessInfo", "supervisor.getAllProcessInfo", "supervisor.getAllConfigInfo",
		"supervisor.startProcess", "supervisor.startProcessGroup", "supervisor.startAllProcesses",
		"supervisor.stopProcess", "supervisor.stopProcessGroup", "supervisor.stopAllProcesses",
		"supervisor.signalProcess", "supervisor.signalProcessGroup", "supervisor.signalAllProcesses",
		"supervisor.readProcessLog", "supervisor.readProcessStdoutLog", "supervisor.readProcessStderrLog",
		"supervisor.tailProcessLog", "supervisor.tailProcessStdoutLog", "supervisor.tailProcessStderrLog",
		"supervisor.reloadConfig", "supervisor.addProcessGroup", "supervisor.removeProcessGroup",
		"supervisor.shutdown",
	}
	sort.Strings(m)
	return m
}

// args checks a call's parameters against kinds: "s" string, "i" int,
// "b" bool, "a" array; an upper-case kind is optional.
func args(params []any, kinds string) *Fault {
	required := 0
	for _, k := range kinds {
		if k >= 'a' && k <= 'z' {
			required++
		}
	}
	if len(params) < required || len(params) > len(kinds) {
		return fault(faultIncorrectParameters, fmt.Sprintf("takes %d to %d parameters, got %d", required, len(kinds), len(params)))
	}
	for i, p := range params {
		ok := false
		switch strings.ToLower(string(kinds[i])) {
		case "s":
			_, ok = p.(string)
		case "i":
			_, ok = p.(int64)
		case "b":
			_, ok = p.(bool)
			if n, isInt := p.(int64); isInt && (n == 0 || n == 1) {
				ok = true // Python clients may send 0/1 for booleans
			}
		case "a":
			_, ok = p.([]any)
		case "x": // a signal: a name or a number, as a string or an int
			switch p.(type) {
			case string, int64:
				ok = true
			}
		}
		if !ok {
			return fault(faultBadArguments, fmt.Sprintf("parameter %d has the wrong type", i+1))
		}
	}
	return nil
}

func boolArg(params []any, i int, def bool) bool {
	if i >= len(params) {
		return def
	}
	switch v := params[i].(type) {
	case bool:
		return v
	case int64:
		return v != 0
	}
	return def
}

// dispatch runs one call. inMulticall forbids nesting multicalls; b is
// what the response may still carry.
func (s *Server) dispatch(ctx context.Context, actor, method string, params []any, inMulticall bool, b *budget) (any, *Fault) {
	sig := map[string]string{
		"system.listMethods": "", "system.methodHelp": "s", "system.methodSignature": "s", "system.multicall": "a",
		"supervisor.getAPIVersion": "", "supervisor.getVersion": "", "supervisor.getSupervisorVersion": "",
		"supervisor.getIdentification": "", "supervisor.getState": "", "supervisor.getPID": "",
		"supervisor.getProcessInfo": "s", "supervisor.getAllProcessInfo": "", "supervisor.getAllConfigInfo": "",
		"supervisor.startProcess": "sB", "supervisor.startProcessGroup": "sB", "supervisor.startAllProcesses": "B",
		"supervisor.stopProcess": "sB", "supervisor.stopProcessGroup": "sB", "supervisor.stopAllProcesses": "B",
		"supervisor.signalProcess": "sx", "supervisor.signalProcessGroup": "sx", "supervisor.signalAllProcesses": "x",
		"supervisor.readProcessLog": "sii", "supervisor.readProcessStdoutLog": "sii", "supervisor.readProcessStderrLog": "sii",
		"supervisor.tailProcessLog": "sii", "supervisor.tailProcessStdoutLog": "sii", "supervisor.tailProcessStderrLog": "sii",
		"supervisor.reloadConfig": "", "supervisor.addProcessGroup": "s", "supervisor.removeProcessGroup": "s",
		"supervisor.shutdown": "",
	}
	kinds, known := sig[method]
	if !known {
		return nil, fault(faultUnknownMethod, "")
	}
	if f := args(params, kinds); f != nil {
		return nil, f
	}
	// Like supervisord's _update, everything but introspection is refused
	// once shutdown has begun.
	if s.down.Load() && strings.HasPrefix(method, "supervisor.") {
		return nil, fault(faultShutdownState, "")
	}
	str := func(i int) string { return params[i].(string) }
	num := func(i int) int64 { return params[i].(int64) }

	switch method {
	case "system.listMethods":
		return methods(), nil
	case "system.methodHelp":
		return "", nil
	case "system.methodSignature":
		return "undef", nil
	case "system.multicall":
		if inMulticall {
			return nil, fault(faultIncorrectParameters, "multicall cannot nest")
		}
		calls := params[0].([]any)
		if len(calls) > s.opts.MaxMulticall {
			return nil, fault(faultIncorrectParameters, fmt.Sprintf("a multicall of %d calls; at most %d are served in one", len(calls), s.opts.MaxMulticall))
		}
		return s.multicall(ctx, actor, calls, b), nil
	case "supervisor.getAPIVersion", "supervisor.getVersion":
		return apiVersion, nil
	case "supervisor.getSupervisorVersion":
		return s.opts.Version, nil
	case "supervisor.getIdentification":
		return s.opts.Identifier, nil
	case "supervisor.getState":
		return rpcStruct{"statecode": 1, "statename": "RUNNING"}, nil
	case "supervisor.getPID":
		return s.opts.PID, nil
	case "supervisor.getProcessInfo":
		p, _, f := s.lookup(str(0))
		if f != nil {
			return nil, f
		}
		if p == nil {
			return nil, fault(faultBadName, str(0))
		}
		return s.processInfo(*p), nil
	case "supervisor.getAllProcessInfo":
		var out []rpcStruct
		for _, p := range s.procs() {
			out = append(out, s.processInfo(p))
		}
		return out, nil
	case "supervisor.getAllConfigInfo":
		var out []rpcStruct
		for _, p := range s.procs() {
			out = append(out, s.configInfo(p))
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i]["name"].(string) < out[j]["name"].(string) })
		return out, nil
	case "supervisor.startProcess", "supervisor.stopProcess":
		start := method == "supervisor.startProcess"
		p, group, f := s.lookup(str(0))
		if f != nil {
			return nil, f
		}
		if p == nil {
			return s.all(ctx, actor, group, start, boolArg(params, 1, true)), nil
		}
		if f := s.startStop(ctx, actor, *p, start, boolArg(params, 1, true)); f != nil {
			return nil, f
		}
		return true, nil
	case "supervisor.startProcessGroup", "supervisor.stopProcessGroup":
		start := method == "supervisor.startProcessGroup"
		name := str(0)
		var group []procRef
		for _, p := range s.procs() {
			if p.group == name {
				group = append(group, p)
			}
		}
		if len(group) == 0 {
			if !start && s.reloaded(name) == "removed" {
				return []rpcStruct{}, nil // "update" stops what the reload already removed
			}
			return nil, fault(faultBadName, name)
		}
		return s.all(ctx, actor, group, start, boolArg(params, 1, true)), nil
	case "supervisor.startAllProcesses", "supervisor.stopAllProcesses":
		return s.all(ctx, actor, s.procs(), method == "supervisor.startAllProcesses", boolArg(params, 0, true)), nil
	case "supervisor.signalProcess":
		p, group, f := s.lookup(str(0))
		if f != nil {
			return nil, f
		}
		if p == nil {
			return s.signalAll(ctx, actor, group, params[1]), nil
		}
		return s.signalOne(ctx, actor, *p, params[1])
	case "supervisor.signalProcessGroup":
		var group []procRef
		for _, p := range s.procs() {
			if p.group == str(0) {
				group = append(group, p)
			}
		}
		if len(group) == 0 {
			return nil, fault(faultBadName, str(0))
		}
		return s.signalAll(ctx, actor, group, params[1]), nil
	case "supervisor.signalAllProcesses":
		return s.signalAll(ctx, actor, s.procs(), params[0]), nil
	case "supervisor.readProcessLog", "supervisor.readProcessStdoutLog", "supervisor.readProcessStderrLog":
		return s.readLog(str(0), num(1), num(2), method == "supervisor.readProcessStderrLog", b)
	case "supervisor.tailProcessLog", "supervisor.tailProcessStdoutLog", "supervisor.tailProcessStderrLog":
		return s.tailLog(str(0), num(1), num(2), method == "supervisor.tailProcessStderrLog", b)
	case "supervisor.reloadConfig":
		return s.reload(ctx, actor)
	case "supervisor.addProcessGroup":
		return s.addGroup(ctx, actor, str(0))
	case "supervisor.removeProcessGroup":
		return s.removeGroup(str(0))
	case "supervisor.shutdown":
		if err := s.c.Shutdown(actor); err != nil {
			return nil, toFault(err, "")
		}
		s.down.Store(true)
		return true, nil
	}
	return nil, fault(faultUnknownMethod, "")
}

// multicall runs each call in turn; each result is [value] or a fault
// struct, as Python's MultiCall expects. A result that would take the
// response past its budget is replaced by a fault.
func (s *Server) multicall(ctx context.Context, actor string, calls []any, b *budget) []any {
	out := make([]any, 0, len(calls))
	faultOf := func(f *Fault) any { return rpcStruct{"faultCode": f.Code, "faultString": f.String} }
	for _, c := range calls {
		m, ok := c.(map[string]any)
		name, okName := m["methodName"].(string)
		if !ok || !okName {
			out = append(out, faultOf(fault(faultIncorrectParameters, "multicall entries need methodName and params")))
			continue
		}
		var params []any
		if p, ok := m["params"].([]any); ok {
			params = p
		}
		var r any
		v, f := s.dispatch(ctx, actor, name, params, true, b)
		if f == nil {
			r = []any{v}
			f = b.take(r)
		}
		if f != nil {
			// A fault is small and there are at most MaxMulticall of
			// them: it is sent even when the budget is spent.
			r = faultOf(f)
		}
		out = append(out, r)
	}
	return out
}

func (s *Server) processInfo(p procRef) rpcStruct {
	w := p.info
	code, name := StateOf(w)
	now := s.opts.Now()
	var start, stop int64
	if !w.Started.IsZero() {
		start = w.Started.Unix()
		if code == stateStopped || code == stateExited || code == stateFatal || code == stateBackoff {
			stop = w.Since.Unix()
		}
	}
	exit := 0
	if w.ExitCode != nil {
		exit = *w.ExitCode
	}
	spawnerr := w.SpawnError
	if spawnerr == "" && (code == stateFatal || code == stateBackoff) {
		spawnerr = w.Description
	}
	out, _ := s.c.LogPath(w.Name, false)
	errPath, _ := s.c.LogPath(w.Name, true)
	return rpcStruct{
		"name": w.Name, "group": p.group,
		"start": start, "stop": stop, "now": now.Unix(),
		"state": code, "statename": name,
		"spawnerr": spawnerr, "exitstatus": exit,
		"logfile": out, "stdout_logfile": out, "stderr_logfile": errPath,
		"pid":         w.PID,
		"description": describe(w, code, spawnerr, now),
	}
}

// describe is supervisord's _interpretProcessInfo.
func describe(w WorkerInfo, code int, spawnerr string, now time.Time) string {
	switch code {
	case stateRunning:
		up := now.Sub(w.Started)
		if w.Started.IsZero() {
			up = now.Sub(w.Since)
		}
		if up < 0 {
			up = 0
		}
		return fmt.Sprintf("pid %d, uptime %s", w.PID, pyTimedelta(up))
	case stateFatal, stateBackoff:
		if spawnerr != "" {
			return spawnerr
		}
		return fmt.Sprintf("unknown error (try \"tail %s\")", w.Name)
	case stateStopped, stateExited:
		if w.Started.IsZero() {
			return "Not started"
		}
		return w.Since.Local().Format("Jan 02 03:04 PM")
	}
	return ""
}

// pyTimedelta formats a duration as str(datetime.timedelta) does for whole
// seconds: "1:02:03", "2 days, 0:00:05".
func pyTimedelta(d time.Duration) string {
	secs := int64(d / time.Second)
	days := secs / 86400
	secs %= 86400
	hms := fmt.Sprintf("%d:%02d:%02d", secs/3600, secs%3600/60, secs%60)
	switch {
	case days == 1:
		return "1 day, " + hms
	case days > 1:
		return fmt.Sprintf("%d days, %s", days, hms)
	}
	return hms
}

func (s *Server) configInfo(p procRef) rpcStruct {
	out, _ := s.c.LogPath(p.info.Name, false)
	errPath, _ := s.c.LogPath(p.info.Name, true)
	return rpcStruct{
		"name": p.info.Name, "group": p.group,
		"autostart": p.info.Autostart, "inuse": true,
		"group_prio": 999, "process_prio": 999,
		"stdout_logfile": out, "stderr_logfile": errPath,
		"redirect_stderr": out != "" && out == errPath,
	}
}

// startStop starts or stops one worker, waiting for it when asked, with
// supervisord's faults. Whether it is already in the wanted state is the
// daemon's judgement, made with the command, never read beforehand.
func (s *Server) startStop(ctx context.Context, actor string, p procRef, start, wait bool) *Fault {
	ctx, cancel := context.WithTimeout(ctx, s.opts.WaitTimeout)
	defer cancel()
	return commandFault(s.c.Command(ctx, start, []string{p.info.Name}, actor, wait)[0], p.info.Name)
}

// commandFault is supervisord's fault for one worker's command outcome.
func commandFault(err error, name string) *Fault {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrSpawn):
		return fault(faultSpawnError, name)
	case errors.Is(err, ErrExited):
		return fault(faultAbnormalTermination, name)
	}
	return toFault(err, name)
}

// all starts or stops procs as one command, and reports one result struct
// per worker acted on, in order: like supervisord, those already in the
// wanted state are left out.
func (s *Server) all(ctx context.Context, actor string, procs []procRef, start, wait bool) []rpcStruct {
	names := make([]string, len(procs))
	for i, p := range procs {
		names[i] = p.info.Name
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.WaitTimeout)
	defer cancel()
	errs := s.c.Command(ctx, start, names, actor, wait)
	out := make([]rpcStruct, 0, len(procs))
	for i, p := range procs {
		if start && errors.Is(errs[i], ErrAlreadyStarted) || !start && errors.Is(errs[i], ErrNotRunning) {
			continue
		}
		r := rpcStruct{"name": p.info.Name, "group": p.group, "status": faultSuccess, "description": "OK"}
		if f := commandFault(errs[i], p.info.Name); f != nil {
			r["status"], r["description"] = f.Code, f.String
		}
		out = append(out, r)
	}
	return out
}

// signalNumber reads a signal as supervisord's signal_number does: a
// number, or a name with or without SIG. What it refuses is BAD_SIGNAL,
// naming it.
func signalNumber(v any) (int, *Fault) {
	var s string
	switch v := v.(type) {
	case int64:
		s = fmt.Sprint(v)
	case string:
		s = v
	}
	n, err := events.ParseSignal(s)
	if err != nil {
		return 0, fault(faultBadSignal, s)
	}
	return n, nil
}

// signalOne is supervisord's signalProcess for one worker: BAD_SIGNAL
// before NOT_RUNNING, FAILED with the reason when it was not sent.
func (s *Server) signalOne(ctx context.Context, actor string, p procRef, sigv any) (any, *Fault) {
	sig, f := signalNumber(sigv)
	if f != nil {
		return nil, f
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.WaitTimeout)
	defer cancel()
	if f := signalFault(s.c.Signal(ctx, []string{p.info.Name}, sig, actor)[0], p.info.Name); f != nil {
		return nil, f
	}
	return true, nil
}

// signalFault is supervisord's fault for one worker's signal outcome.
func signalFault(err error, name string) *Fault {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNoWorker), errors.Is(err, ErrNotRunning), errors.Is(err, ErrShuttingDown):
		return toFault(err, name)
	}
	return fault(faultFailed, err.Error())
}

// signalAll is supervisord's signalProcessGroup and signalAllProcesses:
// every worker in a signallable state (read beforehand, as supervisord
// does; the daemon judges the signal itself) is signalled, as one
// command, with one result struct each.
func (s *Server) signalAll(ctx context.Context, actor string, procs []procRef, sigv any) []rpcStruct {
	var targets []procRef
	for _, p := range procs {
		if code, _ := StateOf(p.info); signallable(code) {
			targets = append(targets, p)
		}
	}
	out := make([]rpcStruct, 0, len(targets))
	result := func(p procRef, f *Fault) rpcStruct {
		r := rpcStruct{"name": p.info.Name, "group": p.group, "status": faultSuccess, "description": "OK"}
		if f != nil {
			r["status"], r["description"] = f.Code, f.String
		}
		return r
	}
	sig, f := signalNumber(sigv)
	if f != nil {
		for _, p := range targets {
			out = append(out, result(p, f))
		}
		return out
	}
	if len(targets) == 0 {
		return out
	}
	names := make([]string, len(targets))
	for i, p := range targets {
		names[i] = p.info.Name
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.WaitTimeout)
	defer cancel()
	errs := s.c.Signal(ctx, names, sig, actor)
	for i, p := range targets {
		out = append(out, result(p, signalFault(errs[i], p.info.Name)))
	}
	return out
}

// logFile resolves name's log and the uid that may own it, with
// supervisord's faults.
func (s *Server) logFile(name string, stderr bool) (string, uint32, *Fault) {
	p, _, f := s.lookup(name)
	if f != nil {
		return "", 0, f
	}
	if p == nil {
		return "", 0, fault(faultBadName, name)
	}
	path, uid := s.c.LogPath(p.info.Name, stderr)
	return path, uid, nil
}

// openLog opens a worker's log for reading through logfile. A missing
// file, or output to /dev/null, is supervisord's NO_FILE; a file logfile
// refuses (a link or FIFO a worker planted) is FAILED, with the reason but
// nothing of its contents.
func openLog(path string, uid uint32) (*os.File, *Fault) {
	fh, err := logfile.OpenRead(path, uid)
	switch {
	case err == nil:
		return fh, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, logfile.ErrNoLog):
		return nil, fault(faultNoFile, path)
	case errors.Is(err, logfile.ErrUnsafe):
		return nil, fault(faultFailed, "refused: "+err.Error())
	}
	return nil, fault(faultFailed, "")
}

// readLog is supervisord's readFile: a negative offset reads that many
// bytes from the end (length must then be 0); otherwise length bytes from
// offset, or everything after it when length is 0. Reads are capped at
// MaxLogRead, a limit supervisord does not have, and at what the response
// may still carry.
func (s *Server) readLog(name string, offset, length int64, stderr bool, b *budget) (any, *Fault) {
	path, uid, f := s.logFile(name, stderr)
	if f != nil {
		return nil, f
	}
	if path == "" {
		return nil, fault(faultNoFile, "")
	}
	fh, f := openLog(path, uid)
	if f != nil {
		return nil, f
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fault(faultFailed, "")
	}
	pos, n, f := readRange(offset, length, st.Size(), s.opts.MaxLogRead)
	if f != nil {
		return nil, f
	}
	if f := b.read(n); f != nil {
		return nil, f
	}
	buf := make([]byte, n)
	got, err := fh.ReadAt(buf, pos)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fault(faultFailed, "")
	}
	return string(buf[:got]), nil
}

// readRange is readFile's arithmetic for a file of size bytes: where to
// read and how much, never more than the file holds past pos nor more than
// most. No combination of offset and length overflows; the one offset
// whose magnitude int64 cannot hold (math.MinInt64) is BAD_ARGUMENTS.
func readRange(offset, length, size, most int64) (pos, n int64, f *Fault) {
	switch {
	case offset < 0:
		if length != 0 {
			return 0, 0, fault(faultBadArguments, "a negative offset reads from the end and takes length 0")
		}
		if offset == math.MinInt64 {
			return 0, 0, fault(faultBadArguments, "offset out of range")
		}
		pos = max(size+offset, 0) // size >= 0 > offset: no overflow
		n = min(-offset, size-pos)
	case length < 0:
		return 0, 0, fault(faultBadArguments, "negative length")
	default:
		pos = offset
		n = max(size-pos, 0) // size >= 0 and pos >= 0: no overflow
		if length > 0 {
			n = min(n, length)
		}
	}
	return pos, min(n, most), nil
}

// tailLog is supervisord's tailFile: [data, next offset, overflow]. When
// the file has grown past offset+length, overflow is set and the last
// length bytes are returned; the returned offset is the file size.
func (s *Server) tailLog(name string, offset, length int64, stderr bool, b *budget) (any, *Fault) {
	path, uid, f := s.logFile(name, stderr)
	if f != nil {
		return nil, f
	}
	empty := []any{"", int64(0), false}
	if path == "" {
		return empty, nil
	}
	fh, f := openLog(path, uid)
	if f != nil {
		if f.Code == faultNoFile {
			return empty, nil
		}
		return []any{"", offset, false}, nil
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return []any{"", offset, false}, nil
	}
	sz := st.Size()
	pos, n, overflow := tailRange(offset, length, sz, s.opts.MaxLogRead)
	data := ""
	if n > 0 {
		if f := b.read(n); f != nil {
			return nil, f
		}
		buf := make([]byte, n)
		got, err := fh.ReadAt(buf, pos)
		if err != nil && !errors.Is(err, io.EOF) {
			return []any{"", offset, false}, nil
		}
		data = string(buf[:got])
	}
	return []any{data, sz, overflow}, nil
}

// tailRange is tailFile's arithmetic, Python's on unbounded integers,
// done on int64 with sums that saturate instead of wrapping; length is
// first capped at most. It returns where to read and how much (never past
// the end of a file of sz bytes).
func tailRange(offset, length, sz, most int64) (pos, n int64, overflow bool) {
	length = min(length, most)
	if sz > addSat(offset, length) {
		overflow = true
		offset = sz - 1
	}
	if addSat(offset, length) > sz {
		if offset > sz-1 {
			length = 0
		}
		offset = subSat(sz, length)
	}
	offset = max(offset, 0)
	length = max(length, 0)
	if offset >= sz {
		return offset, 0, overflow
	}
	return offset, min(length, sz-offset), overflow
}

// addSat and subSat are a+b and a-b, held at the int64 bounds instead of
// wrapping around.
func addSat(a, b int64) int64 {
	c := a + b
	switch {
	case a > 0 && b > 0 && c < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && c >= 0:
		return math.MinInt64
	}
	return c
}

func subSat(a, b int64) int64 {
	if b == math.MinInt64 {
		if a >= 0 {
			return math.MaxInt64
		}
		return a - b // a < 0: a - MinInt64 = a + 2^63 fits
	}
	return addSat(a, -b)
}

// groupMap maps worker names to supervisord group names.
func (s *Server) groupMap() map[string]string {
	m := map[string]string{}
	for _, p := range s.procs() {
		m[p.info.Name] = p.group
	}
	return m
}

// reload turns tend's worker-level diff into supervisord's group-level one:
// a group that only exists after the reload is added, one that no longer
// exists is removed, and any other group with a worker added, changed or
// removed is changed (so "update" re-adds it and its autostart workers run).
func (s *Server) reload(ctx context.Context, actor string) (any, *Fault) {
	before := s.groupMap()
	added, changed, removed, err := s.c.Reload(ctx, actor)
	if err != nil {
		if errors.Is(err, ErrShuttingDown) {
			return nil, toFault(err, "")
		}
		// supervisorctl prints CANT_REREAD's text; any other fault
		// would end it with a traceback.
		return nil, fault(faultCantReread, err.Error())
	}
	// A removed worker stays listed while it stops: it must not keep its
	// group in existence, nor count against removing the group.
	gone := map[string]bool{}
	for _, n := range removed {
		gone[n] = true
	}
	after := s.groupMap()
	for n := range gone {
		delete(after, n)
	}
	exists := func(m map[string]string, g string) bool {
		for _, x := range m {
			if x == g {
				return true
			}
		}
		return false
	}
	touched := map[string]bool{}
	for _, names := range [][]string{added, changed, removed} {
		for _, n := range names {
			g, ok := after[n]
			if !ok {
				g, ok = before[n]
			}
			if !ok {
				g = n
			}
			touched[g] = true
		}
	}
	a, c, r := []string{}, []string{}, []string{}
	kinds := map[string]string{}
	for g := range touched {
		switch {
		case !exists(before, g):
			a, kinds[g] = append(a, g), "added"
		case !exists(after, g):
			r, kinds[g] = append(r, g), "removed"
		default:
			c, kinds[g] = append(c, g), "changed"
		}
	}
	sort.Strings(a)
	sort.Strings(c)
	sort.Strings(r)
	s.mu.Lock()
	s.lastReload = kinds
	s.lastRemoved = gone
	s.mu.Unlock()
	return []any{[]any{a, c, r}}, nil
}

func (s *Server) reloaded(group string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastReload[group]
}

// removedWorker reports whether the last reload removed the worker.
func (s *Server) removedWorker(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastRemoved[name]
}

// addGroup is what "update" calls after a reload: tend has already put the
// group in place, so this only starts its stopped autostart workers, as
// supervisord does when it adds a group.
func (s *Server) addGroup(ctx context.Context, actor, name string) (any, *Fault) {
	var group []procRef
	for _, p := range s.procs() {
		if p.group == name {
			group = append(group, p)
		}
	}
	if len(group) == 0 {
		return nil, fault(faultBadName, name)
	}
	var names []string
	for _, p := range group {
		if p.info.Autostart && !s.removedWorker(p.info.Name) {
			names = append(names, p.info.Name)
		}
	}
	for i, err := range s.c.Command(ctx, true, names, actor, false) {
		if err != nil && !errors.Is(err, ErrAlreadyStarted) {
			return nil, toFault(err, names[i])
		}
	}
	return true, nil
}

// removeGroup succeeds for a group the last reload removed, and for a
// stopped group (tend's configuration, not this call, decides what
// exists); a group with a live process is STILL_RUNNING, as in supervisord,
// unless the last reload removed that process (tend is stopping it).
func (s *Server) removeGroup(name string) (any, *Fault) {
	var group []procRef
	for _, p := range s.procs() {
		if p.group == name {
			group = append(group, p)
		}
	}
	if len(group) == 0 {
		if s.reloaded(name) == "removed" {
			return true, nil
		}
		return nil, fault(faultBadName, name)
	}
	for _, p := range group {
		if s.removedWorker(p.info.Name) {
			continue // tend stops and drops it itself
		}
		if code, _ := StateOf(p.info); running(code) || code == stateStopping {
			return nil, fault(faultStillRunning, name)
		}
	}
	return true, nil
}
