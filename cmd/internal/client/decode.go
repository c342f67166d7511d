package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// decodeStatus reads the daemon's whole status into s. Its workers,
// thousands of objects in the compact form AppendCompact writes, are read
// by hand: encoding/json took 50 ms over 10,000 of them, most of a status
// table's time. Whatever the hand reader does not expect (a member it
// does not know, white space, a null, a number in another form, bad
// UTF-8) sends the whole answer to encoding/json instead, so that it
// reads exactly what encoding/json reads.
//
// workers is how many workers the daemon said the answer holds
// (WorkersHeader), or -1: the workers' slice is made for that many.
func decodeStatus(b []byte, s *Status, workers int) error {
	if err := fastStatus(b, s, workers); err == nil {
		return nil
	}
	*s = Status{}
	return json.Unmarshal(b, s)
}

// errSlow sends an answer to encoding/json.
var errSlow = errors.New("not the form read by hand")

type reader struct {
	b        []byte
	i        int
	err      error
	nWorkers int // how many workers the answer holds, or -1 when not said
}

func (r *reader) fail() { r.err = errSlow }

func (r *reader) byte(c byte) bool {
	if r.err == nil && r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *reader) expect(c byte) {
	if !r.byte(c) {
		r.fail()
	}
}

// token is the string token at r.i, quotes included, and whether it has
// escapes or bytes outside ASCII.
func (r *reader) token() (tok []byte, plain bool) {
	if r.err != nil || r.i >= len(r.b) || r.b[r.i] != '"' {
		r.fail()
		return nil, false
	}
	start := r.i
	plain = true
	for j := start + 1; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			r.i = j + 1
			return r.b[start:r.i], plain
		case c == '\\':
			plain = false
			j++
		case c < 0x20:
			r.fail()
			return nil, false
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	r.fail()
	return nil, false
}

// key is the next member's name, unquoted; the caller's switch on
// string(key) makes no string of it.
func (r *reader) key() []byte {
	tok, plain := r.token()
	if !plain {
		r.fail()
		return nil
	}
	r.expect(':')
	if r.err != nil {
		return nil
	}
	return tok[1 : len(tok)-1]
}

func (r *reader) str() string {
	tok, plain := r.token()
	if r.err != nil {
		return ""
	}
	if plain {
		return string(tok[1 : len(tok)-1])
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		r.fail()
	}
	return s
}

// same is str, but prev itself when the string token is prev's bytes
// between quotes: most workers share their state, cause, actor and
// tracking with the one before. Only a prev that JSON writes as it is
// (no quote, backslash or control character) can be its own token.
func (r *reader) same(prev string) string {
	if r.err == nil && len(r.b)-r.i >= len(prev)+2 && r.b[r.i] == '"' && r.b[r.i+1+len(prev)] == '"' &&
		string(r.b[r.i+1:r.i+1+len(prev)]) == prev && verbatim(prev) {
		r.i += len(prev) + 2
		return prev
	}
	return r.str()
}

func verbatim(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func (r *reader) time() time.Time {
	var t time.Time
	tok, _ := r.token()
	if r.err == nil && t.UnmarshalJSON(tok) != nil {
		r.fail()
	}
	return t
}

func (r *reader) timePtr() *time.Time {
	t := r.time()
	return &t
}

// number is the JSON number at r.i; integer: without fraction or
// exponent.
func (r *reader) number(integer bool) []byte {
	if r.err != nil {
		return nil
	}
	start, j := r.i, r.i
	digits := func() int {
		k := j
		for j < len(r.b) && r.b[j] >= '0' && r.b[j] <= '9' {
			j++
		}
		return j - k
	}
	if j < len(r.b) && r.b[j] == '-' {
		j++
	}
	if n := digits(); n == 0 || n > 1 && r.b[j-n] == '0' {
		r.fail()
		return nil
	}
	if !integer {
		if j < len(r.b) && r.b[j] == '.' {
			j++
			if digits() == 0 {
				r.fail()
				return nil
			}
		}
		if j < len(r.b) && (r.b[j] == 'e' || r.b[j] == 'E') {
			j++
			if j < len(r.b) && (r.b[j] == '+' || r.b[j] == '-') {
				j++
			}
			if digits() == 0 {
				r.fail()
				return nil
			}
		}
	}
	r.i = j
	return r.b[start:j]
}

func (r *reader) int() int {
	tok := r.number(true)
	neg := len(tok) > 0 && tok[0] == '-'
	if neg {
		tok = tok[1:]
	}
	u, ok := digits(tok)
	switch {
	case !ok || !neg && u > math.MaxInt || neg && u > -math.MinInt:
		r.fail()
		return 0
	case neg:
		return int(-u)
	}
	return int(u)
}

func (r *reader) uint() uint64 {
	u, ok := digits(r.number(true))
	if !ok {
		r.fail()
	}
	return u
}

// digits is the value of a run of decimal digits, ok false when it
// overflows (or is empty).
func digits(b []byte) (u uint64, ok bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' || u > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	return u, true
}

func (r *reader) float() float64 {
	f, err := strconv.ParseFloat(string(r.number(false)), 64)
	if err != nil {
		r.fail()
	}
	return f
}

func (r *reader) bool() bool {
	switch {
	case r.lit("true"):
		return true
	case r.lit("false"):
		return false
	}
	r.fail()
	return false
}

func (r *reader) lit(s string) bool {
	if r.err == nil && len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

// raw is the value at r.i, whatever it is, for encoding/json to read.
func (r *reader) raw() []byte {
	start, depth := r.i, 0
	for r.err == nil && r.i < len(r.b) {
		switch r.b[r.i] {
		case '"':
			r.token()
		case '{', '[':
			depth++
			r.i++
		case '}', ']':
			if depth == 0 {
				return r.b[start:r.i]
			}
			depth--
			r.i++
		case ',':
			if depth == 0 {
				return r.b[start:r.i]
			}
			r.i++
		default:
			r.i++
		}
	}
	r.fail()
	return nil
}

func fastStatus(b []byte, s *Status, workers int) error {
	r := &reader{b: b, nWorkers: workers}
	r.expect('{')
	for first := true; r.err == nil && !r.byte('}'); first = false {
		if !first {
			r.expect(',')
		}
		switch k := r.key(); string(k) {
		case "workers":
			s.Workers = r.workers()
		case "seq", "log_failure", "tracking", "export", "notify":
			v := r.raw()
			if r.err != nil {
				break
			}
			var err error
			switch string(k) {
			case "seq":
				err = json.Unmarshal(v, &s.Seq)
			case "log_failure":
				err = json.Unmarshal(v, &s.LogFailure)
			case "tracking":
				err = json.Unmarshal(v, &s.Tracking)
			case "export":
				err = json.Unmarshal(v, &s.Export)
			case "notify":
				err = json.Unmarshal(v, &s.Notify)
			}
			if err != nil {
				r.fail()
			}
		default:
			r.fail()
		}
	}
	r.byte('\n')
	if r.err == nil && r.i != len(b) {
		r.fail()
	}
	return r.err
}

func (r *reader) workers() []WorkerStatus {
	r.expect('[')
	// Room for all without growing, and no more: the slice is cleared
	// whole when made, a page fault for every 4 KiB of it. The daemon
	// says how many; when it does not, they are counted: every worker
	// begins so, and no string can hold it unescaped (the daemon's
	// alerts that follow may too, which costs a few slots).
	n := r.nWorkers
	if n < 0 || n > len(r.b)/16 { // no worker takes fewer bytes: a bound on the word
		n = bytes.Count(r.b[r.i:], []byte(`{"name":`))
	}
	ws := make([]WorkerStatus, 0, n)
	if r.byte(']') {
		return ws
	}
	var prev WorkerStatus
	for r.err == nil {
		ws = append(ws, WorkerStatus{})
		r.worker(&ws[len(ws)-1], &prev)
		prev = ws[len(ws)-1]
		if r.byte(']') {
			return ws
		}
		r.expect(',')
	}
	return nil
}

func (r *reader) worker(w, prev *WorkerStatus) {
	r.expect('{')
	for first := true; r.err == nil && !r.byte('}'); first = false {
		if !first {
			r.expect(',')
		}
		switch string(r.key()) {
		case "name":
			w.Name = r.str()
		case "group":
			w.Group = r.same(prev.Group)
		case "state":
			w.State = r.same(prev.State)
		case "pid":
			w.PID = r.int()
		case "incarnation":
			w.Incarnation = r.uint()
		case "restarts":
			w.Restarts = r.int()
		case "since":
			w.Since = r.time()
		case "cause":
			w.Cause = r.same(prev.Cause)
		case "actor":
			w.Actor = r.same(prev.Actor)
		case "health":
			w.Health = r.same(prev.Health)
		case "last_exit":
			if w.LastExit != nil { // encoding/json would fill the one it has
				r.fail()
			}
			w.LastExit = r.exit()
		case "restart_due":
			w.RestartDue = r.timePtr()
		case "breaker_open":
			w.BreakerOpen = r.bool()
		case "rss_bytes":
			w.RSSBytes = r.uint()
		case "cpu_percent":
			w.CPUPercent = r.float()
		case "tracking":
			w.Tracking = r.same(prev.Tracking)
		case "cgroup":
			w.Cgroup = r.str()
		case "waiting":
			w.Waiting = r.same(prev.Waiting)
		case "waiting_for":
			w.WaitingFor = r.str()
		case "waiting_since":
			w.WaitingSince = r.timePtr()
		case "status_text":
			w.StatusText = r.str()
		case "next_run":
			w.NextRun = r.timePtr()
		default:
			r.fail()
		}
	}
}

func (r *reader) exit() *ExitInfo {
	x := new(ExitInfo)
	r.expect('{')
	for first := true; r.err == nil && !r.byte('}'); first = false {
		if !first {
			r.expect(',')
		}
		switch string(r.key()) {
		case "incarnation":
			x.Incarnation = r.uint()
		case "code":
			if r.lit("null") {
				x.Code = nil
			} else {
				c := r.int()
				x.Code = &c
			}
		case "signal":
			x.Signal = r.str()
		case "lost":
			x.Lost = r.bool()
		case "at":
			x.At = r.time()
		case "cause":
			x.Cause = r.str()
		default:
			r.fail()
		}
	}
	return x
}
