package health

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/supervisor/children"
)

// execProber is healthy iff the command exits 0. The command runs in its own
// process group with stdio on /dev/null (no pipes, so nothing a background
// grandchild holds can delay the probe).
type execProber struct {
	argv    []string
	timeout time.Duration
}

func newExecProber(spec Spec) prober {
	return execProber{argv: spec.Command, timeout: spec.Timeout}
}

func (p execProber) probe(ctx context.Context) (bool, string) {
	prefix := fmt.Sprintf("exec %v: ", p.argv)
	cmd := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The leader is not reaped before this runs, so its pid (the pgid)
	// cannot have been reused: the signal reaches only the probe's group.
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	// The probe leads a process group of its own, as an orphan of a
	// worker's may: the record tells the daemon's orphan reaper that its
	// exit status is this probe's.
	pid, err := children.Start(func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	})
	if err != nil {
		return false, prefix + err.Error()
	}
	defer children.Done(pid)
	// Wait for the leader's exit without reaping it, then kill whatever it
	// left in its group, and only then reap: the group id stays pinned to
	// this probe until nothing of it can survive.
	waitExitNoReap(pid)
	_ = killGroup(pid)
	err = cmd.Wait()
	switch {
	case ctx.Err() != nil:
		return false, prefix + describe(ctx, ctx.Err(), p.timeout)
	case err != nil:
		return false, prefix + err.Error()
	}
	return true, prefix + "exit status 0"
}

func (execProber) close() {}

func killGroup(pgid int) error {
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// waitExitNoReap blocks until pid has exited, leaving it a zombie for
// cmd.Wait to reap. Errors other than EINTR mean the state cannot be observed
// this way (e.g. someone else reaped it); the caller then proceeds to Wait,
// which reports what happened.
func waitExitNoReap(pid int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}
