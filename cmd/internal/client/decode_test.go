package client

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func anyStatus(t *rapid.T) Status {
	st := Status{Seq: 0, LogFailure: anyText().Draw(t, "logFailure")}
	if rapid.Bool().Draw(t, "tracking") {
		st.Tracking = &Tracking{Mode: "cgroup", Where: anyText().Draw(t, "where")}
	}
	if rapid.Bool().Draw(t, "notify") {
		st.Notify = []NotifyStatus{{Name: anyText().Draw(t, "notifyName"), Cursor: 3}}
	}
	if rapid.Bool().Draw(t, "export") {
		st.Export = &ExportStatus{Stream: "s", LagSeconds: 1.5, LastAck: optTime(t, "lastAck")}
	}
	st.Workers = rapid.SliceOfN(rapid.Custom(anyWorker), 0, 4).Draw(t, "workers")
	// Workers share their state, cause, actor and tracking often: the
	// reader takes the one before's string when the bytes are the same.
	for i := 1; i < len(st.Workers); i++ {
		if rapid.Bool().Draw(t, "shared") {
			p, w := &st.Workers[i-1], &st.Workers[i]
			w.Group, w.State, w.Cause, w.Actor, w.Tracking, w.Health, w.Waiting = p.Group, p.State, p.Cause, p.Actor, p.Tracking, p.Health, p.Waiting
		}
	}
	return st
}

// The status the table reads is read by hand as encoding/json reads it:
// the daemon's answer (json.Marshal's form) without falling back, and any
// change of its bytes to the same value or an error, as encoding/json
// gives.
func TestDecodeStatusIsEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		st := anyStatus(t)
		b, err := json.Marshal(st)
		if err != nil {
			t.Skip("not encodable:", err)
		}
		b = append(b, '\n')
		var want, fast Status
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if err := fastStatus(b, &fast, -1); err != nil {
			t.Fatalf("the daemon's form is not read by hand: %v\n%s", err, b)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("read by hand:\n%+v\nencoding/json:\n%+v", fast, want)
		}

		// Changed bytes: an error where encoding/json errs, its value
		// where it reads one.
		for range rapid.IntRange(1, 3).Draw(t, "changes") {
			if len(b) == 0 {
				break
			}
			i := rapid.IntRange(0, len(b)-1).Draw(t, "at")
			switch rapid.IntRange(0, 2).Draw(t, "how") {
			case 0:
				b[i] = rapid.SampledFrom([]byte(`{}[],:"\ 0123456789-+.eEtrufalsn`+"\n\xff")).Draw(t, "byte")
			case 1:
				b = append(b[:i], b[i+1:]...)
			case 2:
				b = append(b[:i], append([]byte{rapid.SampledFrom([]byte(`{}[],:"\ 0-.e`)).Draw(t, "ins")}, b[i:]...)...)
			}
		}
		var want2, got2 Status
		werr := json.Unmarshal(b, &want2)
		gerr := decodeStatus(b, &got2, -1)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("encoding/json's error %v, ours %v on %q", werr, gerr, b)
		}
		if werr == nil && !reflect.DeepEqual(got2, want2) {
			t.Fatalf("on %q\nread:\n%+v\nencoding/json:\n%+v", b, got2, want2)
		}
	})
}

// BenchmarkDecodeStatus10k reads the whole status of 10,000 running
// workers, by hand and by encoding/json.
func BenchmarkDecodeStatus10k(b *testing.B) {
	ws := make([]WorkerStatus, 10_000)
	now := time.Now()
	for i := range ws {
		ws[i] = WorkerStatus{Name: "w" + strconv.Itoa(i+1), State: "Running", PID: 100_000 + i, Incarnation: 1,
			Since: now, Cause: "added by the configuration", Actor: "config", Tracking: "pgroup"}
	}
	body, err := json.Marshal(Status{Seq: 30_000, Workers: ws})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var s Status
			if err := fastStatus(body, &s, -1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var s Status
			if err := json.Unmarshal(body, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A string the worker before had is taken again only when the bytes are
// that string, not an escape that begins like it.
func TestDecodeStatusEscapesAreNotTheStringBefore(t *testing.T) {
	for _, pair := range [][2]string{{`\`, `"`}, {`\`, `\`}, {"", "\n"}, {`a\`, `a"`}, {"é", "é"}, {"<", ">"}} {
		st := Status{Workers: []WorkerStatus{{Cause: pair[0], State: pair[0]}, {Cause: pair[1], State: pair[1]}}}
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var want, got Status
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if err := fastStatus(b, &got, -1); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s read as %q, %q", b, got.Workers[1].Cause, got.Workers[1].State)
		}
	}
}

// Reading a status makes one string a worker (its name) and the slice:
// workers that share their state, cause, actor and tracking share the
// strings. encoding/json made five a worker.
func TestDecodeStatusAllocatesLittle(t *testing.T) {
	const n = 1000
	ws := make([]WorkerStatus, n)
	for i := range ws {
		ws[i] = WorkerStatus{Name: "w" + strconv.Itoa(i+1), State: "Running", PID: 100 + i, Incarnation: 1,
			Since: time.Unix(1e9, 0).UTC(), Cause: "added by the configuration", Actor: "config", Tracking: "pgroup"}
	}
	body, err := json.Marshal(Status{Seq: 3 * n, Workers: ws})
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(5, func() {
		var s Status
		if err := decodeStatus(body, &s, -1); err != nil {
			t.Fatal(err)
		}
	})
	if per := allocs / n; per > 1.1 {
		t.Fatalf("reading a status allocates %.2f times a worker, want at most 1.1", per)
	}
}
