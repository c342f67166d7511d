// Package cgroup decides which processes belong to a worker incarnation.
//
// On hosts where no cgroup can be written, an incarnation is its leader's
// process group bounded by the daemon's session and by time: Leader.Owns
// is that rule, pure, over a parsed /proc/PID/stat.
//
// It imports nothing of tend's and scans no /proc.
package cgroup
