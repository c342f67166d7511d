package query

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/tendhq/tend/events"
)

// Stamp is the start of a line a relay wrote (output = "relay"): its time
// and the incarnation that wrote it.
type Stamp struct {
	Time        time.Time
	Incarnation events.Incarnation
}

// stampLen is the width of a relay's time: "2026-03-14T03:14:07.123456Z".
const stampLen = len("2006-01-02T15:04:05.000000Z")

// ParseStamp reads the stamp at the start of a relayed line ("TIME #INC "
// or "TIME #INC+ " for the later pieces of a long line).
func ParseStamp(line []byte) (Stamp, bool) {
	if len(line) < stampLen+3 || line[stampLen] != ' ' || line[stampLen+1] != '#' {
		return Stamp{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(line[:stampLen]))
	if err != nil {
		return Stamp{}, false
	}
	rest := line[stampLen+2:]
	end := bytes.IndexAny(rest, " +")
	if end <= 0 {
		return Stamp{}, false
	}
	inc, err := strconv.ParseUint(string(rest[:end]), 10, 64)
	if err != nil {
		return Stamp{}, false
	}
	return Stamp{Time: t, Incarnation: events.Incarnation(inc)}, true
}

// ErrNotStamped says that a worker's output carries no times to place
// events among (it is not written by a relay).
var ErrNotStamped = errors.New(`the output carries no times (only output = "relay" stamps each line)`)

// Interleave writes the relayed lines of out with the events evs among
// them, in time order: each event as "TIME #INC == TYPE: CAUSE", after
// the lines stamped at or before it. Events before the first line are left
// out: the lines say which stretch of time is asked for. A line without a
// stamp is ErrNotStamped, unless it is the first line of out, which a
// reader of the end of a file may have cut.
func Interleave(w io.Writer, out io.Reader, evs []events.JSON) error {
	type ev struct {
		t time.Time
		e events.JSON
	}
	list := make([]ev, 0, len(evs))
	for _, e := range evs {
		t, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil {
			continue
		}
		list = append(list, ev{t, e})
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].t.Before(list[j].t) })
	bw := bufio.NewWriter(w)
	emit := func(e ev) {
		fmt.Fprintf(bw, "%s #%d == %s: %s\n", e.t.UTC().Format("2006-01-02T15:04:05.000000Z07:00"), e.e.Incarnation, e.e.Type, e.e.Cause)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first, started := true, false
	for sc.Scan() {
		line := sc.Bytes()
		st, ok := ParseStamp(line)
		if !ok {
			if first {
				first = false
				continue
			}
			return ErrNotStamped
		}
		if !started {
			// Only what happened in the stretch the lines cover.
			for len(list) > 0 && list[0].t.Before(st.Time) {
				list = list[1:]
			}
			started = true
		}
		first = false
		for len(list) > 0 && list[0].t.Before(st.Time) {
			emit(list[0])
			list = list[1:]
		}
		bw.Write(line)
		bw.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, e := range list {
		emit(e)
	}
	return bw.Flush()
}

// Tails reads the last lines a worker's relay wrote to its stderr before
// each of its ends, for the report. It reads each worker's files once, the
// file and its newest backup, at most TailRead bytes of each.
type Tails struct {
	// Open opens a worker's stderr file or a backup of it (name is the
	// path, with ".1" or ".1.gz" for the backup); nil when the worker
	// has none that a relay writes.
	Open  func(worker, name string) (io.ReadCloser, error)
	Paths func(worker string) []string // the files to read, oldest first
	lines map[string][]stamped
}

type stamped struct {
	st   Stamp
	text string
}

// TailRead bounds what is read of each file.
const TailRead = 1 << 20

// Tail is at most n lines that incarnation inc of worker wrote to stderr
// at or before at, newest last, each at most maxLen bytes with control
// characters and invalid UTF-8 escaped.
func (t *Tails) Tail(worker string, inc events.Incarnation, at time.Time, n, maxLen int) []string {
	if t.lines == nil {
		t.lines = map[string][]stamped{}
	}
	ls, ok := t.lines[worker]
	if !ok {
		ls = t.load(worker)
		t.lines[worker] = ls
	}
	i := sort.Search(len(ls), func(i int) bool { return ls[i].st.Time.After(at) })
	var out []string
	for j := i - 1; j >= 0 && len(out) < n; j-- {
		if ls[j].st.Incarnation == inc {
			out = append(out, escapeLine(ls[j].text, maxLen))
		}
	}
	for a, b := 0, len(out)-1; a < b; a, b = a+1, b-1 {
		out[a], out[b] = out[b], out[a]
	}
	return out
}

func (t *Tails) load(worker string) []stamped {
	var out []stamped
	for _, p := range t.Paths(worker) {
		rc, err := t.Open(worker, p)
		if err != nil {
			continue
		}
		data, _ := io.ReadAll(io.LimitReader(rc, 64<<20))
		rc.Close()
		if len(data) > TailRead {
			data = data[len(data)-TailRead:]
		}
		for _, line := range bytes.Split(data, []byte{'\n'}) {
			if st, ok := ParseStamp(line); ok {
				text := line[stampLen+2:]
				if i := bytes.IndexByte(text, ' '); i >= 0 {
					text = text[i+1:]
				}
				out = append(out, stamped{st, string(text)})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].st.Time.Before(out[j].st.Time) })
	return out
}

// escapeLine makes a worker's line safe to show: control characters and
// invalid UTF-8 as Go escapes, at most max bytes.
func escapeLine(s string, max int) string {
	q := strconv.QuoteToGraphic(s)
	q = q[1 : len(q)-1]
	if len(q) > max {
		q = q[:max] + "…"
	}
	return q
}
