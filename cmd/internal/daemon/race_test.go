//go:build race

package daemon

// raceEnabled: under the race detector sync.Pool drops what it is given
// at random, so that a test of what it keeps cannot hold.
const raceEnabled = true
