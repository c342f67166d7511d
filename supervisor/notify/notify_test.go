package notify

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	m := Parse([]byte("READY=1\nSTATUS=accepting connections\nEXTEND_TIMEOUT_USEC=5000000\nMAINPID=42\nWATCHDOG=1\nBOGUS=x\nno-equals"))
	if !m.Ready || m.Status == nil || *m.Status != "accepting connections" || m.Extend != 5*time.Second || m.MainPID != 42 || !m.Watchdog {
		t.Fatalf("%+v", m)
	}
	if m := Parse([]byte("READY=0\nMAINPID=-3\nEXTEND_TIMEOUT_USEC=x")); m.Ready || m.MainPID != 0 || m.Extend != 0 {
		t.Fatalf("%+v", m)
	}
}

// The sender's pid is the kernel's. A real systemd-notify, a program this
// package did not write, is read too: run as root, it speaks for its
// parent (the kernel lets root name another pid in its credentials; a user
// cannot), which here is this test.
func TestReadsTheSendersPID(t *testing.T) {
	s, err := Listen("tend-test-" + t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := Send(s.Address(), "READY=1\nSTATUS=hello"); err != nil {
		t.Fatal(err)
	}
	m, err := s.Read()
	if err != nil {
		t.Fatal(err)
	}
	if m.PID != os.Getpid() || !m.Ready || *m.Status != "hello" {
		t.Fatalf("%+v, want pid %d", m, os.Getpid())
	}
	path, err := exec.LookPath("systemd-notify")
	if err != nil {
		t.Skip("no systemd-notify on this host")
	}
	cmd := exec.Command(path, "--no-block", "--ready", "--status=from systemd-notify")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+s.Address())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-notify: %v %s", err, out)
	}
	m, err = s.Read()
	if err != nil {
		t.Fatal(err)
	}
	if !m.Ready || m.Status == nil || !strings.Contains(*m.Status, "systemd-notify") || m.PID != os.Getpid() {
		st := ""
		if m.Status != nil {
			st = *m.Status
		}
		t.Fatalf("%+v status %q", m, st)
	}
}

func TestCloseEndsARead(t *testing.T) {
	s, err := Listen("tend-test-" + t.Name())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := s.Read(); done <- err }()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if err != ErrClosed {
			t.Fatalf("read after close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("close did not end the read")
	}
}
