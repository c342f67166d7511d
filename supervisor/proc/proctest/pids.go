package proctest

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// TB is what WaitPids needs of a test.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// WaitPids waits up to 15 s until file holds at least n pids, one a line
// and the last line ended (as modes and test scripts write them), and
// returns them.
func WaitPids(t TB, file string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(file)
		var pids []int
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		if len(pids) >= n && strings.HasSuffix(string(b), "\n") {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d pids in %s", n, file)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
