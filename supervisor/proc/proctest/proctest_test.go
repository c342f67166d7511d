package proctest

import (
	"bufio"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	Main()
	goleak.VerifyTestMain(m)
}

func exitCodeOf(t *testing.T, argv []string) int {
	t.Helper()
	err := exec.Command(argv[0], argv[1:]...).Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestExitModes(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want int
	}{
		{Command("exit", "3"), 3},
		{Command("sleep", "10ms"), 0},
		{Command("crash-after", "10ms", "4"), 4},
		{Command("crash-after", "10ms"), 2},
		{Command("no-such-mode"), 2},
	} {
		if got := exitCodeOf(t, tc.argv); got != tc.want {
			t.Errorf("%q: exit %d, want %d", tc.argv[2:], got, tc.want)
		}
	}
}

func TestHTTPModes(t *testing.T) {
	for mode, want := range map[string]int{"http": 200, "http-fail": 503} {
		argv := Command(mode, "127.0.0.1:0")
		c := exec.Command(argv[0], argv[1:]...)
		out, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		addr, _ := bufio.NewReader(out).ReadString('\n')
		code := 0
		resp, err := http.Get("http://" + strings.TrimSpace(addr) + "/healthz")
		if err == nil {
			code = resp.StatusCode
			resp.Body.Close()
		}
		c.Process.Kill()
		c.Wait()
		if err != nil || code != want {
			t.Fatalf("%s: status %d, %v; want %d", mode, code, err, want)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestAllocTouchesMemory(t *testing.T) {
	argv := Command("alloc", "32")
	c := exec.Command(argv[0], argv[1:]...)
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Wait()
	defer c.Process.Kill()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("got %q, want ready", line)
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(c.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
			if kb, _ := strconv.Atoi(f[1]); kb < 32<<10 {
				t.Fatalf("VmRSS %d kB < 32 MiB", kb)
			}
			return
		}
	}
	t.Fatal("no VmRSS")
}
