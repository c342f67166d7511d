package console

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder keeps every write apart, so a test can see what each held.
type recorder struct {
	mu     sync.Mutex
	writes [][]byte
	block  chan struct{} // while open, writes wait
	delay  time.Duration // each write takes this long
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.block != nil {
		<-r.block
	}
	time.Sleep(r.delay)
	r.mu.Lock()
	r.writes = append(r.writes, bytes.Clone(b))
	r.mu.Unlock()
	return len(b), nil
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(bytes.Join(r.writes, nil))
}

// run gives each worker a pipe, writes its chunks in turn, and returns
// what reached stdout once the console closed.
func run(t *testing.T, opts Options, out *recorder, chunks map[string][]string) string {
	t.Helper()
	c := New(out, io.Discard, opts)
	var wg sync.WaitGroup
	for name, cs := range chunks {
		w, err := c.Pipe(name, false)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.Close()
			for _, s := range cs {
				if _, err := w.WriteString(s); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c.Close(time.Now().Add(5 * time.Second))
	return out.text()
}

func TestLinesArePrefixedAndWhole(t *testing.T) {
	out := &recorder{}
	got := run(t, Options{}, out, map[string][]string{"web": {"hel", "lo\nwor", "ld\n", "no newline at the end"}})
	want := "web | hello\nweb | world\nweb | no newline at the end\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// A carriage return ends a record: a worker cannot put another worker's
// prefix at the start of a line on the screen or in the stream.
func TestCarriageReturnCannotForgeAPrefix(t *testing.T) {
	out := &recorder{}
	got := run(t, Options{}, out, map[string][]string{"web": {"ok\rdb | fake\r\nnext\r", "\nlast\n"}})
	want := "web | ok\nweb | db | fake\nweb | next\nweb | last\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if !strings.HasPrefix(line, "web | ") || strings.ContainsRune(line, '\r') {
			t.Errorf("record %q", line)
		}
	}
}

// A line longer than a record is cut into records of at most MaxRecord
// bytes, the later ones marked as pieces; every write holds whole records
// of at most MaxRecord bytes together.
func TestLongLinesAreCut(t *testing.T) {
	out := &recorder{}
	long := strings.Repeat("x", 3*MaxRecord)
	got := run(t, Options{}, out, map[string][]string{"w": {long + "\nshort\n"}})
	recs := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(recs) != 5 {
		t.Fatalf("%d records, want 4 pieces and a short line", len(recs))
	}
	total := 0
	for i, r := range recs[:4] {
		if len(r)+1 > MaxRecord {
			t.Errorf("record %d is %d bytes", i, len(r)+1)
		}
		want := "w + "
		if i == 0 {
			want = "w | "
		}
		if !strings.HasPrefix(r, want) {
			t.Errorf("record %d starts %q", i, r[:8])
		}
		total += len(r) - 4
	}
	if total != len(long) || recs[4] != "w | short" {
		t.Errorf("content %d bytes of %d; last %q", total, len(long), recs[4])
	}
	for _, w := range out.writes {
		if len(w) > MaxRecord || w[len(w)-1] != '\n' {
			t.Errorf("a write of %d bytes, ending %q", len(w), w[len(w)-1])
		}
	}
}

// Many workers at once through a small buffer: no record is lost (a slow
// destination slows the workers, it does not drop), none is mixed with
// another, and every write is whole records of at most MaxRecord bytes.
func TestWorkersNeverInterleave(t *testing.T) {
	out := &recorder{}
	chunks := map[string][]string{}
	for w := range 8 {
		name := fmt.Sprintf("w%d", w)
		var cs []string
		for i := range 2000 {
			// Lines of varying length, written in odd-sized pieces.
			line := fmt.Sprintf("%s line %d %s\n", name, i, strings.Repeat("y", i%300))
			cs = append(cs, line[:len(line)/3], line[len(line)/3:])
		}
		chunks[name] = cs
	}
	got := run(t, Options{Buffer: 16 << 10}, out, chunks)
	counts := map[string]int{}
	for _, r := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		name, rest, ok := strings.Cut(r, " | ")
		if !ok || !strings.HasPrefix(rest, name+" line ") {
			t.Fatalf("mixed record %q", r)
		}
		counts[name]++
	}
	for name := range chunks {
		if counts[name] != 2000 {
			t.Errorf("%s: %d lines, want 2000", name, counts[name])
		}
	}
	for _, w := range out.writes {
		if len(w) > MaxRecord || w[len(w)-1] != '\n' {
			t.Fatalf("a write of %d bytes not ending a record", len(w))
		}
	}
}

// A destination that blocks stalls its workers for Stall at most: then
// what does not fit the buffer is dropped, counted, and said where it was
// lost.
func TestBlockedDestinationDropsAndSays(t *testing.T) {
	out := &recorder{block: make(chan struct{})}
	c := New(out, io.Discard, Options{Buffer: 64 << 10, Stall: 200 * time.Millisecond})
	w, err := c.Pipe("web", false)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20000 {
			fmt.Fprintf(w, "line %d\n", i)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker blocked behind a blocked destination")
	}
	close(out.block) // the destination drains; the worker writes on
	time.Sleep(200 * time.Millisecond)
	fmt.Fprintf(w, "after\n")
	w.Close()
	c.Close(time.Now().Add(5 * time.Second))
	got := out.text()
	st := c.Stats()
	// Every drop is said, in records that add up to the count.
	var said, gaps uint64
	for _, r := range strings.Split(got, "\n") {
		var n, b uint64
		if _, err := fmt.Sscanf(r, "web | tend: %d lines (%d bytes) dropped:", &n, &b); err == nil {
			said += n
			gaps++
		}
	}
	if st.Dropped == 0 || said != st.Dropped || !strings.HasSuffix(got, "web | after\n") {
		t.Fatalf("stats %+v, %d said in %d records; tail %q", st, said, gaps, got[max(0, len(got)-300):])
	}
	if st.Lines+st.Dropped != 20001+gaps {
		t.Errorf("written %d + dropped %d, want the 20,001 lines and %d gap records", st.Lines, st.Dropped, gaps)
	}
}

// A destination slower than the worker, but never stuck for Stall, makes
// the worker wait and loses nothing.
func TestSlowDestinationLosesNothing(t *testing.T) {
	out := &recorder{delay: time.Millisecond}
	var lines []string
	for i := range 3000 {
		lines = append(lines, fmt.Sprintf("line %d %s\n", i, strings.Repeat("s", 100)))
	}
	got := run(t, Options{Buffer: 8 << 10, Stall: time.Second}, out, map[string][]string{"w": {strings.Join(lines, "")}})
	if n := strings.Count(got, "\n"); n != 3000 || strings.Contains(got, "dropped") {
		t.Fatalf("%d lines arrived, want 3000 and no drop", n)
	}
}

func TestTimestamps(t *testing.T) {
	out := &recorder{}
	at := time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC)
	got := run(t, Options{Timestamps: true, Now: func() time.Time { return at }}, out, map[string][]string{"db": {"up\n"}})
	if want := "2030-01-02T03:04:05.006Z db | up\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// The copier's throughput: lines of 60 bytes through a pipe to a file.
func BenchmarkCopier(b *testing.B) {
	f, err := os.CreateTemp(b.TempDir(), "out")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	c := New(f, io.Discard, Options{Buffer: 64 << 20})
	w, err := c.Pipe("web", false)
	if err != nil {
		b.Fatal(err)
	}
	line := []byte(strings.Repeat("z", 59) + "\n")
	chunk := bytes.Repeat(line, 64)
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	for i := 0; i < b.N; i += 64 {
		if _, err := w.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	c.Close(time.Now().Add(time.Minute))
	b.StopTimer()
	if st := c.Stats(); st.Dropped > 0 {
		b.Fatalf("dropped %d", st.Dropped)
	}
}
