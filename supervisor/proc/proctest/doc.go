// Package proctest lets a Go test binary re-execute itself as a worker
// that misbehaves on purpose, so tests of tend's process handling run
// against real processes.
//
// A test package calls Main first thing in TestMain, and builds argv with
// Command:
//
//	func TestMain(m *testing.M) {
//		proctest.Main()
//		os.Exit(m.Run())
//	}
//
//	spec.Command = proctest.Command("exit", "3")
//
// Modes that install signal handlers or listen print "ready" on stdout
// once they have, so a test can wait for it before signalling. Modes that
// start descendants print their pids, one per line, before "ready".
//
// Main also serves as the entry point of the launcher stage
// (supervisor/proc/launch), which re-executes the running binary.
//
// It is for tests only: no production package may import it.
package proctest
