package client

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendWorkers appends ws as `tend status -o json` prints it: the bytes
// json.MarshalIndent(ws, "", "  ") gives, without its reflection. The
// daemon encodes a status of 10,000 workers this way in a few
// milliseconds and the client copies the bytes to its output, where
// encoding, decoding and indenting 2.6 MB took the status command most of
// its time. A property test holds it to encoding/json's bytes for any
// WorkerStatus: change the type and this function together.
func AppendWorkers(dst []byte, ws []WorkerStatus) ([]byte, error) {
	if ws == nil {
		return append(dst, "null"...), nil
	}
	return AppendEach(dst, len(ws), func(i int, _ *WorkerStatus) *WorkerStatus { return &ws[i] }, nil)
}

// AppendEach appends n workers as AppendWorkers appends a slice of them,
// the i-th being what worker(i, scratch) returns: the daemon fills the one
// scratch WorkerStatus for each of its views in turn instead of making a
// slice of 10,000 of them first. What worker returns is read before the
// next call. With spill, what is encoded is handed to spill whenever it
// reaches SpillAt bytes, so that an answer of 10,000 workers is sent as
// it is made, from a buffer of a few pages.
func AppendEach(dst []byte, n int, worker func(i int, scratch *WorkerStatus) *WorkerStatus, spill Spill) ([]byte, error) {
	return appendEach(dst, n, &indented, worker, spill)
}

// AppendCompact is AppendEach in json.Marshal's compact form, as the
// workers of the daemon's whole status (Status.Workers) are sent.
func AppendCompact(dst []byte, n int, worker func(i int, scratch *WorkerStatus) *WorkerStatus, spill Spill) ([]byte, error) {
	return appendEach(dst, n, &compact, worker, spill)
}

// Spill takes what an encoder has appended so far and returns the buffer
// to go on appending to: encoded[:0] once it is written out.
type Spill func(encoded []byte) ([]byte, error)

// SpillAt is how much an encoder holds before it spills.
const SpillAt = 64 << 10

// layout is the white space of one form: json.MarshalIndent's with two
// spaces, or json.Marshal's, which has none.
type layout struct {
	item    string // before each element of the array
	end     string // before the array's ]
	member  string // before each member of a worker
	colon   string // between a key and its value
	close   string // before a worker's }
	xmember string // before each member of its last_exit
	xclose  string // before the last_exit's }
}

var (
	indented = layout{item: "\n  ", end: "\n", member: "\n    ", colon: ": ", close: "\n  ", xmember: "\n      ", xclose: "\n    "}
	compact  = layout{colon: ":"}
)

func appendEach(dst []byte, n int, l *layout, worker func(i int, scratch *WorkerStatus) *WorkerStatus, spill Spill) ([]byte, error) {
	if n == 0 {
		return append(dst, "[]"...), nil
	}
	dst = append(dst, '[')
	var (
		scratch WorkerStatus
		err     error
	)
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, l.item...)
		w := worker(i, &scratch)
		if dst, err = appendWorker(dst, l, w); err != nil {
			return dst, fmt.Errorf("worker %q: %w", w.Name, err)
		}
		if spill != nil && len(dst) >= SpillAt {
			if dst, err = spill(dst); err != nil {
				return dst, err
			}
		}
	}
	dst = append(dst, l.end...)
	return append(dst, ']'), nil
}

// object writes the members of one JSON object at one depth of
// indentation.
type object struct {
	b     []byte
	ind   string // before each member
	colon string
	first bool
	err   error
}

func (o *object) key(k string) {
	if !o.first {
		o.b = append(o.b, ',')
	}
	o.first = false
	o.b = append(o.b, o.ind...)
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"')
	o.b = append(o.b, o.colon...)
}

func (o *object) str(k, v string) { o.key(k); o.b = appendString(o.b, v) }

func (o *object) strOmit(k, v string) {
	if v != "" {
		o.str(k, v)
	}
}

func (o *object) int(k string, v int64) { o.key(k); o.b = strconv.AppendInt(o.b, v, 10) }

func (o *object) uint(k string, v uint64) { o.key(k); o.b = strconv.AppendUint(o.b, v, 10) }

func (o *object) time(k string, t time.Time) {
	o.key(k)
	var err error
	if o.b, err = appendTime(o.b, t); err != nil && o.err == nil {
		o.err = fmt.Errorf("%s: %w", k, err)
	}
}

func (o *object) timeOmit(k string, t *time.Time) {
	if t != nil {
		o.time(k, *t)
	}
}

func appendWorker(b []byte, l *layout, w *WorkerStatus) ([]byte, error) {
	o := object{b: append(b, '{'), ind: l.member, colon: l.colon, first: true}
	o.str("name", w.Name)
	o.strOmit("group", w.Group)
	o.str("state", w.State)
	o.int("pid", int64(w.PID))
	o.uint("incarnation", w.Incarnation)
	o.int("restarts", int64(w.Restarts))
	o.time("since", w.Since)
	o.str("cause", w.Cause)
	o.str("actor", w.Actor)
	o.strOmit("health", w.Health)
	if x := w.LastExit; x != nil {
		o.key("last_exit")
		e := object{b: append(o.b, '{'), ind: l.xmember, colon: l.colon, first: true}
		e.uint("incarnation", x.Incarnation)
		e.key("code")
		if x.Code == nil {
			e.b = append(e.b, "null"...)
		} else {
			e.b = strconv.AppendInt(e.b, int64(*x.Code), 10)
		}
		e.strOmit("signal", x.Signal)
		if x.Lost {
			e.key("lost")
			e.b = append(e.b, "true"...)
		}
		e.time("at", x.At)
		e.str("cause", x.Cause)
		o.b = append(e.b, l.xclose...)
		o.b = append(o.b, '}')
		if e.err != nil && o.err == nil {
			o.err = fmt.Errorf("last_exit: %w", e.err)
		}
	}
	o.timeOmit("restart_due", w.RestartDue)
	if w.BreakerOpen {
		o.key("breaker_open")
		o.b = append(o.b, "true"...)
	}
	if w.RSSBytes != 0 {
		o.uint("rss_bytes", w.RSSBytes)
	}
	if w.CPUPercent != 0 {
		o.key("cpu_percent")
		var err error
		if o.b, err = appendFloat(o.b, w.CPUPercent); err != nil && o.err == nil {
			o.err = fmt.Errorf("cpu_percent: %w", err)
		}
	}
	o.strOmit("tracking", w.Tracking)
	o.strOmit("cgroup", w.Cgroup)
	o.strOmit("waiting", w.Waiting)
	o.strOmit("waiting_for", w.WaitingFor)
	o.timeOmit("waiting_since", w.WaitingSince)
	o.strOmit("status_text", w.StatusText)
	o.timeOmit("next_run", w.NextRun)
	o.b = append(o.b, l.close...)
	o.b = append(o.b, '}')
	return o.b, o.err
}

// appendTime is time.Time's JSON: RFC 3339 with nanoseconds, refused
// outside the years it can write, as encoding/json refuses it.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, errors.New("year outside of range [0,9999]")
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// appendFloat is encoding/json's float64: the shortest form that reads
// back, in exponent form below 1e-6 and from 1e21, NaN and infinities
// refused.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, fmt.Errorf("unsupported value: %s", strconv.FormatFloat(f, 'g', -1, 64))
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 is written 1e-7.
		if n := len(b) - start; n >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendString is encoding/json's string with its HTML escaping (the
// daemon's answers and json.MarshalIndent both escape <, > and &): control
// characters, quotes and backslashes escaped, invalid UTF-8 as U+FFFD,
// U+2028 and U+2029 as \u escapes.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
