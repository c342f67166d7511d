package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/termsafe"
	"github.com/tendhq/tend/events"
)

// status is `tend status`: the workers named (all when none), as a table
// or JSON, or with --daemon the daemon's own state.
func status(ctx context.Context, g *Globals, out io.Writer, daemonOnly bool, names []string) error {
	if err := g.CheckOutput(); err != nil {
		return err
	}
	c, err := g.Client()
	if err != nil {
		return err
	}
	defer c.Close()
	if daemonOnly {
		st, err := c.Status(ctx, names...)
		if err != nil {
			return err
		}
		st.Workers = nil
		if g.JSON() {
			return PrintJSON(out, st)
		}
		fmt.Fprintf(out, "log: seq %d\n", st.Seq)
		if st.LogFailure != "" {
			fmt.Fprintf(out, "log refuses writes: %s\n", termsafe.Line(st.LogFailure))
		}
		daemonLines(out, st)
		return nil
	}
	if g.JSON() {
		return quietPipe(c.WriteStatusJSON(ctx, out, names...))
	}
	st, err := c.Status(ctx, names...)
	if err != nil {
		return err
	}
	StatusOrder(st.Workers)
	if st.LogFailure != "" {
		fmt.Fprintf(os.Stderr, "WARNING: the log refuses writes (%s): the daemon records nothing more and is exiting (status 74); workers keep running\n", termsafe.Line(st.LogFailure))
	}
	// The instances of a worker with instances come under a line
	// of their own: its name and how many of them run.
	running := map[string][2]int{}
	for _, w := range st.Workers {
		if w.Group != "" {
			n := running[w.Group]
			n[1]++
			if w.State == "Running" {
				n[0]++
			}
			running[w.Group] = n
		}
	}
	// tabwriter writes line by line: one system call a worker
	// unless buffered.
	bw := bufio.NewWriterSize(out, 64<<10)
	out = bw
	t := newTable(7)
	t.grow(len(st.Workers)+1, 96)
	for _, h := range []string{"NAME", "STATE", "PID", "INC", "RESTARTS", "SINCE", "WHY"} {
		t.cell(h)
	}
	group := ""
	// A worker's cells are made by appends, not fmt: 10,000 of them.
	for _, w := range st.Workers {
		if w.Group != "" && w.Group != group {
			n := running[w.Group]
			t.cell(termsafe.Line(w.Group))
			t.text = fmt.Appendf(t.text, "%d/%d running", n[0], n[1])
			for range 6 {
				t.end()
			}
		}
		group = w.Group
		if w.Group != "" {
			t.addString("  ")
		}
		t.cell(termsafe.Line(w.Name))
		t.cell(termsafe.Line(w.State))
		if w.PID != 0 {
			t.text = strconv.AppendInt(t.text, int64(w.PID), 10)
		} else {
			t.add('-')
		}
		t.end()
		t.text = strconv.AppendUint(t.text, w.Incarnation, 10)
		t.end()
		t.text = strconv.AppendInt(t.text, int64(w.Restarts), 10)
		t.end()
		t.text = appendSince(t.text, w.Since)
		t.end()
		// The why may be what the worker said of itself (STATUS=).
		t.cell(termsafe.Line(w.Note()))
	}
	if err := t.writeTo(out); err != nil {
		return err
	}
	// The daemon's own lines, under the table of all workers.
	if len(names) == 0 {
		fmt.Fprintln(out)
		daemonLines(out, st)
	}
	return bw.Flush()
}

// quietPipe makes a reader that went away (`| head`) end tend as a
// write to a closed pipe ends any program: without a word, with the
// status a shell gives a process killed by SIGPIPE. A write of Go's to
// stdout would have died of that signal; the kernel's splice returns
// EPIPE instead. An EPIPE from the control socket is not this, and is
// said.
func quietPipe(err error) error {
	if errors.Is(err, client.ErrReaderGone) {
		return &ExitError{Code: ExitBrokenPipe, Err: err, Quiet: true}
	}
	return err
}

// daemonLines prints how the daemon tracks processes, and the export's
// and the alerts' progress, for people.
func daemonLines(out io.Writer, st client.Status) {
	if t := st.Tracking; t != nil {
		line := "processes: tracked by " + t.Mode
		switch {
		case t.Where != "":
			line += " (" + t.Where + ")"
		case t.Why != "":
			line += " (" + t.Why + ")"
		}
		fmt.Fprintln(out, line)
	}
	if x := st.Export; x != nil {
		conn := "connected"
		if !x.Connected {
			conn = "not connected"
		}
		fmt.Fprintf(out, "export: stream %s as host %s, log %.8s: %s, acknowledged seq %d of %d, lag %d events (%.1fs)\n",
			x.Stream, x.Host, x.Log, conn, x.Acked, x.Last, x.LagEvents, x.LagSeconds)
		if x.Error != "" {
			fmt.Fprintf(out, "export: last error: %s\n", termsafe.Line(x.Error))
		}
	}
	for _, n := range st.Notify {
		line := fmt.Sprintf("notify %s: done with seq %d, %d delivered, %d failed attempts, %d dead letters", n.Name, n.Cursor, n.Delivered, n.Failures, n.DeadLetters)
		if n.Retrying != 0 {
			line += fmt.Sprintf("; retrying seq %d", n.Retrying)
		}
		if n.Error != "" {
			line += "; last error: " + termsafe.Line(n.Error)
		}
		fmt.Fprintln(out, line)
	}
}

// Since is when t was, for people: its local time and how long ago.
func Since(t time.Time) string { return string(appendSince(nil, t)) }

// appendSince appends Since(t) to dst: a status table makes 10,000 of
// them, and a Sprintf each was a tenth of its time.
func appendSince(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, '-')
	}
	d := time.Since(t).Round(time.Second)
	dst = t.Local().AppendFormat(dst, "15:04:05")
	dst = append(dst, " ("...)
	dst = append(dst, d.String()...)
	return append(dst, " ago)"...)
}

// StatusOrder sorts workers by name, the instances of a worker with
// instances together and by number (web@2 before web@10).
func StatusOrder(ws []client.WorkerStatus) {
	slices.SortStableFunc(ws, func(a, b client.WorkerStatus) int { return events.CompareNames(a.Name, b.Name) })
}
