package daemon

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseTextRanges(t *testing.T) {
	smaps := `00400000-00d2d000 r-xp 00000000 fe:00 42                           /usr/bin/tendd
Size:               9396 kB
Rss:                7848 kB
Anonymous:             0 kB
00d2d000-016f9000 r--p 0092d000 fe:00 42                           /usr/bin/tendd
Rss:                7980 kB
Anonymous:             0 kB
016f9000-017e5000 rw-p 012f9000 fe:00 42                           /usr/bin/tendd
Anonymous:           120 kB
017e5000-017f0000 r--p 013e5000 fe:00 42                           /usr/bin/tendd (deleted)
Anonymous:             8 kB
7f0000000000-7f0000001000 r-xp 00000000 fe:00 43                   /usr/lib/libc.so.6
Anonymous:             0 kB
7f0000002000-7f0000003000 r--s 00000000 fe:00 42                   /usr/bin/tendd
Anonymous:             0 kB
7f0000004000-7f0000005000 r--p 00000000 fe:01 42                   /elsewhere
Anonymous:             0 kB
`
	got := parseTextRanges([]byte(smaps), "fe:00", "42")
	want := []textRange{{0x400000, 0xd2d000}, {0xd2d000, 0x16f9000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("parseTextRanges = %x, want %x: only the file's private read-only mappings with no page of their own", got, want)
	}
}

// kept is written by the test: a writable mapping the trim must not touch.
var kept = []byte("written at run time")

// textRSS is the resident size in kB of the ranges, from smaps.
func textRSS(t *testing.T, rs []textRange) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	total, in := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if lo, _, ok := strings.Cut(f[0], "-"); ok && len(f) >= 5 {
			s, _ := strconv.ParseUint(lo, 16, 64)
			in = false
			for _, r := range rs {
				if uintptr(s) == r.start {
					in = true
				}
			}
			continue
		}
		if in && f[0] == "Rss:" {
			n, _ := strconv.Atoi(f[1])
			total += n
		}
	}
	return total
}

// residentText makes every page of rs resident (reading it through
// /proc/self/mem, which faults it in as a touch would) and returns what
// smaps then says is resident: an earlier test, and the trim loops of
// other tests' daemons in this process, may have let go of most of the
// text already, and a trim measured against that little says nothing.
func residentText(t *testing.T, rs []textRange) int {
	t.Helper()
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	buf := make([]byte, 1<<20)
	for _, r := range rs {
		for at := r.start; at < r.end; at += uintptr(len(buf)) {
			n := min(uintptr(len(buf)), r.end-at)
			if _, err := mem.ReadAt(buf[:n], int64(at)); err != nil {
				t.Fatalf("read the text at %#x: %v", at, err)
			}
		}
	}
	return textRSS(t, rs)
}

// The running test binary lets go of its own text and read-only data and
// runs on: the pages come back as it touches them, one at a time, and
// nothing writable is touched.
func TestTrimTextLetsGoAndRunsOn(t *testing.T) {
	rs := textSet()
	if len(rs) == 0 {
		t.Fatal("no read-only mapping of the executable found")
	}
	kept[0] = 'W'
	before := residentText(t, rs)
	trimText(rs)
	after := textRSS(t, rs)
	if after > before*3/4 {
		t.Fatalf("text resident: %d kB before the trim, %d kB after", before, after)
	}
	// Code and tables the trim let go of run again, and data stayed.
	var buf bytes.Buffer
	buf.WriteString(strconv.Quote(strings.Repeat("x", 3)))
	if buf.String() != `"xxx"` || string(kept) != "Written at run time" {
		t.Fatalf("after the trim: %q, %q", buf.String(), kept)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		t.Fatal(err)
	}
}

func TestShouldTrimText(t *testing.T) {
	now := time.Now()
	const M = 1 << 20
	for _, c := range []struct {
		what                      string
		prev, allocated, baseText uint64
		lastText                  time.Time
		want                      bool
	}{
		{what: "quiet after the start-up", prev: 8 * M, allocated: 8 * M, want: true},
		{what: "still busy", prev: 6 * M, allocated: 8 * M},
		{what: "idle since the last trim", prev: 8 * M, allocated: 8 * M, baseText: 8*M - 1000, lastText: now.Add(-time.Minute)},
		{what: "quiet after work since the last trim", prev: 20 * M, allocated: 20 * M, baseText: 8 * M, lastText: now.Add(-time.Minute), want: true},
		{what: "trimmed a moment ago", prev: 20 * M, allocated: 20 * M, baseText: 8 * M, lastText: now.Add(-time.Second)},
	} {
		if got := shouldTrimText(c.prev, c.allocated, c.baseText, c.lastText, now); got != c.want {
			t.Errorf("%s: shouldTrimText = %v, want %v", c.what, got, c.want)
		}
	}
}

// A look after work, once quiet, lets go of the text; the next look, with
// nothing done since, does not.
func TestLookTrimsTheText(t *testing.T) {
	// Not a heap trim too: its collection runs code enough to map much
	// of the text again.
	tr := trimmer{text: textSet(), baseText: allocated(), base: allocated(), last: time.Now()}
	if len(tr.text) == 0 {
		t.Fatal("no read-only mapping of the executable found")
	}
	work := make([][]byte, 0, 64)
	for range 64 {
		work = append(work, make([]byte, 64<<10)) // 4 MiB
	}
	work[0][0] = 1
	// Measured before the daemon goes quiet: reading smaps allocates,
	// and with many mappings (a test before this one made a big heap)
	// more than a quiet look allows.
	before := residentText(t, tr.text)
	tr.prev = allocated()
	tr.look(time.Now())
	if after := textRSS(t, tr.text); after > before*3/4 {
		t.Fatalf("text resident: %d kB before the look, %d kB after", before, after)
	}
	if tr.lastText.IsZero() {
		t.Fatal("the look did not record its trim")
	}
	last := tr.lastText
	tr.look(time.Now().Add(time.Minute))
	if tr.lastText != last {
		t.Fatal("trimmed the text again with nothing done since")
	}
}
