package limits

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary play a worker instead of running tests:
//
//	alloc:N  touch N MiB and sleep
//	fork:N   start a child in the same process group that does alloc:N, and sleep
//	forklater:N  sleep a moment, then fork:N
const helperEnv = "TEND_LIMITS_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	goleak.VerifyTestMain(m)
}

func helper(mode string) int {
	kind, arg, _ := strings.Cut(mode, ":")
	mib, err := strconv.Atoi(arg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad helper mode", mode)
		return 2
	}
	switch kind {
	case "alloc":
		buf := make([]byte, mib<<20)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1
		}
		time.Sleep(time.Hour)
		buf[0]++ // keeps buf reachable while sleeping
		return int(buf[0])
	case "forklater":
		time.Sleep(300 * time.Millisecond)
		fallthrough
	case "fork":
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), helperEnv+"=alloc:"+arg)
		if err := child.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		time.Sleep(time.Hour)
		return 0
	}
	return 2
}

// spawn starts a worker in its own process group (keeping whatever else
// cmd.SysProcAttr asks) and kills the whole group at cleanup. It returns
// the group id (the leader's pid).
func spawn(t testing.TB, cmd *exec.Cmd) int {
	t.Helper()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return pgid
}

func spawnHelper(t testing.TB, mode string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return spawn(t, cmd)
}
