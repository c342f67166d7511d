package proc

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
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
	// The session is compared with the kernel's own answer, not with zero:
	// in a container whose session leader lives outside its pid namespace
	// the session reads as 0.
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	if want.PID != pid || want.StartTicks == 0 || want.Session != sid {
		t.Fatalf("readStat(self) = %+v: want pid %d, a start time and session %d", want, pid, sid)
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
