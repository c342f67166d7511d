package proctest

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tendhq/tend/supervisor/proc/launch"
)

// helperArg marks an invocation of the test binary as a helper worker.
const helperArg = "tend-helper"

// Main runs the helper mode and exits when the process was started by
// Command; otherwise it returns at once. It is also the launcher's entry
// point (launch.Main), so that a test binary can start workers that need
// the launcher, as the tend binary does.
func Main() {
	launch.Main()
	if len(os.Args) < 3 || os.Args[1] != helperArg {
		return
	}
	os.Exit(run(os.Args[2], os.Args[3:]))
}

// Command returns the argv that re-executes the test binary in mode.
func Command(mode string, args ...string) []string {
	return append([]string{self(), helperArg, mode}, args...)
}

// self is the absolute path of the running binary, so the argv works from
// any working directory.
func self() string {
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	if abs, err := filepath.Abs(os.Args[0]); err == nil {
		return abs
	}
	return os.Args[0]
}

// run dispatches to a mode and returns the exit status.
func run(mode string, args []string) int {
	code, err := dispatch(mode, args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "proctest: %s: %v\n", mode, err)
		return 2
	}
	return code
}
