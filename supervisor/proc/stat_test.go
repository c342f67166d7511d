package proc

import (
	"os"
	"testing"
)

// Every spawn reads its child's /proc/PID/stat for its identity. A read
// through os.ReadFile allocated a File, a poller entry and its buffer, and
// cost three system calls more than the open, read and close it needs.
func TestReadStatAllocs(t *testing.T) {
	pid := os.Getpid()
	want, err := readStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if want.StartTicks == 0 || want.Session == 0 {
		t.Fatalf("readStat(self) = %+v: no start time or session", want)
	}
	// The path (twice: the string and the kernel's copy of it), and what
	// ParseProcStat allocates, and one more under the race detector:
	// os.ReadFile made it 10.
	const most = 6
	if n := testing.AllocsPerRun(100, func() {
		if got, err := readStat(pid); err != nil || got.StartTicks != want.StartTicks || got.Session != want.Session {
			t.Fatalf("readStat(self) = %+v, %v; want %+v", got, err, want)
		}
	}); n > most {
		t.Errorf("readStat allocates %.0f times, want at most %d", n, most)
	}
	if _, err := readStat(1 << 30); !os.IsNotExist(err) {
		t.Errorf("readStat of no process: %v, want an error that says it does not exist", err)
	}
}
