package children

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	return strings.HasPrefix(s[strings.LastIndexByte(s, ')')+1:], " Z")
}

func waitZombie(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !zombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%d never became a zombie", pid)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A recorded child is never reaped by Reap, whatever its group; once its
// owner is done with it, an unrecorded zombie is.
func TestReapLeavesOwnedChildren(t *testing.T) {
	attr := &syscall.ProcAttr{Sys: &syscall.SysProcAttr{Setpgid: true}}
	pid, err := Start(func() (int, error) { return syscall.ForkExec("/bin/true", []string{"true"}, attr) })
	if err != nil {
		t.Fatal(err)
	}
	if !Owned(pid) {
		t.Fatal("Start did not record the pid")
	}
	waitZombie(t, pid)
	if reaped, err := Reap(pid, true); reaped || err != nil {
		t.Fatalf("Reap of an owned child = %v, %v", reaped, err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		t.Fatalf("the owner's wait: %v (%v)", err, ws)
	}
	Done(pid)
	if Owned(pid) {
		t.Fatal("Done did not forget the pid")
	}

	orphan, err := syscall.ForkExec("/bin/true", []string{"true"}, attr)
	if err != nil {
		t.Fatal(err)
	}
	waitZombie(t, orphan)
	// A group leader is left alone while a fork is in flight.
	release := make(chan struct{})
	started := make(chan struct{})
	go Start(func() (int, error) { close(started); <-release; return 0, syscall.EAGAIN })
	<-started
	if reaped, err := Reap(orphan, true); reaped || err != nil {
		t.Fatalf("Reap during a fork = %v, %v", reaped, err)
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		reaped, err := Reap(orphan, true)
		if err != nil {
			t.Fatal(err)
		}
		if reaped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the orphan was never reaped")
		}
		time.Sleep(time.Millisecond)
	}
}
