package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Any text, valid UTF-8 or not, with the characters JSON and HTML escape
// drawn often.
func anyText() *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.String(),
		rapid.Map(rapid.SliceOf(rapid.Byte()), func(b []byte) string { return string(b) }),
		rapid.Map(rapid.SliceOf(rapid.SampledFrom([]string{"a", "\"", "\\", "<", ">", "&", "\n", "\b", "\f", "\x00", "\x1f", "\x7f", "\u2028", "\u2029", "é", "\xff", "\xe2\x80", "\U0001F600"})),
			func(p []string) string {
				var b bytes.Buffer
				for _, s := range p {
					b.WriteString(s)
				}
				return b.String()
			}),
	)
}

func anyTime() *rapid.Generator[time.Time] {
	return rapid.Custom(func(t *rapid.T) time.Time {
		// Years -100 to 10100, so that both edges of what JSON can
		// carry are crossed.
		sec := rapid.Int64Range(-65_000_000_000, 256_000_000_000).Draw(t, "sec")
		nsec := rapid.Int64Range(0, 999_999_999).Draw(t, "nsec")
		tm := time.Unix(sec, nsec)
		switch rapid.IntRange(0, 3).Draw(t, "zone") {
		case 0:
			return tm.UTC()
		case 1:
			return tm.In(time.FixedZone("", rapid.IntRange(-24*3600+1, 24*3600-1).Draw(t, "offset")))
		case 2:
			return tm.In(time.FixedZone("", 60*rapid.IntRange(-1439, 1439).Draw(t, "minutes")))
		}
		return tm // with a monotonic reading or not: JSON ignores it
	})
}

func optTime(t *rapid.T, label string) *time.Time {
	if rapid.Bool().Draw(t, label+"?") {
		tm := anyTime().Draw(t, label)
		return &tm
	}
	return nil
}

func anyWorker(t *rapid.T) WorkerStatus {
	w := WorkerStatus{
		Name: anyText().Draw(t, "name"), Group: anyText().Draw(t, "group"), State: anyText().Draw(t, "state"),
		PID: rapid.Int().Draw(t, "pid"), Incarnation: rapid.Uint64().Draw(t, "inc"), Restarts: rapid.Int().Draw(t, "restarts"),
		Since: anyTime().Draw(t, "since"), Cause: anyText().Draw(t, "cause"), Actor: anyText().Draw(t, "actor"),
		Health: anyText().Draw(t, "health"), RestartDue: optTime(t, "due"), BreakerOpen: rapid.Bool().Draw(t, "breaker"),
		RSSBytes: rapid.Uint64().Draw(t, "rss"), CPUPercent: rapid.Float64().Draw(t, "cpu"),
		Tracking: anyText().Draw(t, "tracking"), Cgroup: anyText().Draw(t, "cgroup"), Waiting: anyText().Draw(t, "waiting"),
		WaitingFor: anyText().Draw(t, "waiting_for"), WaitingSince: optTime(t, "waiting_since"),
		StatusText: anyText().Draw(t, "status_text"), NextRun: optTime(t, "next_run"),
	}
	if rapid.Bool().Draw(t, "exit?") {
		x := &ExitInfo{Incarnation: rapid.Uint64().Draw(t, "x.inc"), Signal: anyText().Draw(t, "x.signal"),
			Lost: rapid.Bool().Draw(t, "x.lost"), At: anyTime().Draw(t, "x.at"), Cause: anyText().Draw(t, "x.cause")}
		if rapid.Bool().Draw(t, "x.code?") {
			c := rapid.Int().Draw(t, "x.code")
			x.Code = &c
		}
		w.LastExit = x
	}
	if rapid.Bool().Draw(t, "blank?") { // omitempty's zero values, often
		w.Group, w.Health, w.RSSBytes, w.CPUPercent, w.Tracking, w.StatusText = "", "", 0, 0, "", ""
	}
	return w
}

// The status the daemon encodes by hand is, byte for byte, what
// encoding/json gives for the same workers, or an error where it errs.
func TestAppendWorkersIsEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var ws []WorkerStatus
		if rapid.IntRange(0, 9).Draw(t, "nil?") > 0 {
			ws = rapid.SliceOfN(rapid.Custom(anyWorker), 0, 4).Draw(t, "workers")
		}
		want, werr := json.MarshalIndent(ws, "", "  ")
		got, gerr := AppendWorkers(nil, ws)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("encoding/json's error %v, ours %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("bytes differ:\nencoding/json: %q\nours:          %q", want, got)
		}
	})
}

// The workers of the daemon's whole status, which the table of
// `tend status` reads, are json.Marshal's compact bytes.
func TestAppendCompactIsEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ws := rapid.SliceOfN(rapid.Custom(anyWorker), 0, 4).Draw(t, "workers")
		want, werr := json.Marshal(ws)
		got, gerr := AppendCompact(nil, len(ws), func(i int, _ *WorkerStatus) *WorkerStatus { return &ws[i] }, nil)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("encoding/json's error %v, ours %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("bytes differ:\nencoding/json: %q\nours:          %q", want, got)
		}
	})
}

// Spilled as it goes, an answer is the same bytes, and no spill holds much
// more than SpillAt.
func TestSpilledIsTheSameBytes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		some := rapid.SliceOfN(rapid.Custom(anyWorker), 1, 3).Draw(t, "workers")
		n := rapid.IntRange(0, 2000).Draw(t, "n")
		compactForm := rapid.Bool().Draw(t, "compact")
		enc := AppendEach
		if compactForm {
			enc = AppendCompact
		}
		each := func(i int, _ *WorkerStatus) *WorkerStatus { return &some[i%len(some)] }
		want, werr := enc(nil, n, each, nil)
		var sent []byte
		spills := 0
		got, gerr := enc(nil, n, each, func(b []byte) ([]byte, error) {
			if len(b) < SpillAt || len(b) > 2*SpillAt {
				t.Fatalf("spilled %d bytes (SpillAt %d)", len(b), SpillAt)
			}
			spills++
			sent = append(sent, b...)
			return b[:0], nil
		})
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("unspilled error %v, spilled %v", werr, gerr)
		}
		if werr != nil {
			return
		}
		if got = append(sent, got...); !bytes.Equal(got, want) {
			t.Fatalf("spilled bytes differ (%d spills): %d bytes against %d", spills, len(got), len(want))
		}
		if len(want) >= 2*SpillAt && spills == 0 {
			t.Fatalf("%d bytes and no spill", len(want))
		}
	})
}

// A spill that fails ends the encoding with its error.
func TestAFailedSpillEndsTheAnswer(t *testing.T) {
	w := WorkerStatus{Name: "w", State: "Running", Cause: strings.Repeat("x", 1000)}
	calls := 0
	broken := errors.New("broken pipe")
	_, err := AppendEach(nil, 1000, func(int, *WorkerStatus) *WorkerStatus { return &w }, func(b []byte) ([]byte, error) {
		calls++
		return b, broken
	})
	if !errors.Is(err, broken) || calls != 1 {
		t.Fatalf("after a failed spill: err %v, %d spills", err, calls)
	}
}
