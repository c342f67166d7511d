package config

import (
	"fmt"
	"os"
	"syscall"
)

// What execve accepts, checked here so that a command the kernel would
// refuse with E2BIG is refused at its key and line, before anything runs,
// rather than as a spawn_failed after the daemon is up.

// maxArgStrlen is the kernel's MAX_ARG_STRLEN: the longest single argument
// or NAME=value environment string, its terminating NUL included (32
// pages). It does not depend on the host, so Parse checks it.
const maxArgStrlen = 32 * 4096

// checkArgStrings refuses an element of list longer than one exec string.
func (t *table) checkArgStrings(name string, list []string) {
	for i, s := range list {
		if len(s)+1 > maxArgStrlen {
			t.errorf(name, "element %d is %d bytes; the kernel refuses a single argument of more than %d (MAX_ARG_STRLEN)", i, len(s), maxArgStrlen-1)
			return
		}
	}
}

// execArgLimit is how many bytes execve accepts for the file name, the
// argument and environment strings (each with its NUL) and their pointers
// together, as Linux computes it (fs/exec.c, bprm_stack_limits): a quarter
// of the stack size limit (ulimit -s), at most three quarters of 8 MiB and
// at least 128 KiB (ARG_MAX). It is this process's limit: the daemon's
// workers inherit the daemon's, and `tend check` run under the same limits
// sees the same.
func execArgLimit() int {
	const stkLim, argMax = 8 << 20, 128 << 10
	limit := uint64(stkLim / 4 * 3)
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_STACK, &rl); err == nil {
		limit = min(limit, rl.Cur/4)
	}
	return int(max(limit, argMax))
}

// execReserve is room kept for what the daemon adds to every worker's exec
// beyond the configuration: a command found through PATH becomes a full
// path (PATH_MAX), and the TEND_WORKER, TEND_INCARNATION and TEND_INSTANCE
// markers (the last names the log's path, PATH_MAX again).
const execReserve = 3*4096 + 3*8

// execBytes is what strs take on the exec stack: each string, its NUL and
// its pointer.
func execBytes(strs ...string) int {
	n := 0
	for _, s := range strs {
		n += len(s) + 1 + 8
	}
	return n
}

// envBytes is execBytes of an environment's NAME=value strings.
func envBytes(env map[string]string) int {
	n := 0
	for k, v := range env {
		n += len(k) + 1 + len(v) + 1 + 8
	}
	return n
}

// checkExecSize refuses a command whose arguments and env, with the
// daemon's own environment (every worker and health check starts from it),
// do not fit in what execve accepts. base is execBytes of the daemon's
// environment.
func checkExecSize(command []string, env map[string]string, base, limit int) error {
	need := execBytes(command...) + envBytes(env) + base + execReserve
	if need <= limit {
		return nil
	}
	return fmt.Errorf("the command and env take %d KiB with the daemon's own environment (%d KiB); "+
		"the kernel accepts %d KiB for a program's arguments and environment together "+
		"(ARG_MAX: a quarter of the stack size limit, ulimit -s)", (need+1023)/1024, (base+1023)/1024, limit/1024)
}

// environBytes is execBytes of this process's environment.
func environBytes() int { return execBytes(os.Environ()...) }
