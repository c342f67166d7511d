package main

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/tendhq/tend/supervisor/cgroup"
	"github.com/tendhq/tend/supervisor/proc"
)

func findMarked(instance string) ([]int, error) {
	ms, err := proc.FindMarked(instance)
	out := make([]int, len(ms))
	for i, m := range ms {
		out[i] = m.Identity.PID
	}
	return out, err
}

// cgroupDir is where the daemon of a log keeps its cgroup subtree when it
// tracks by cgroup ("" where this host has no writable cgroup v2).
func cgroupDir(db string) string {
	info, err := cgroup.Probe(cgroup.InstanceID(db), cgroup.Options{})
	if err != nil {
		return ""
	}
	return info.Dir
}

// purgeCgroups kills whatever is left in a log's cgroup subtree and
// removes it, so a failed or crashed test leaves no cgroup behind.
func purgeCgroups(t testing.TB, db string) {
	dir := cgroupDir(db)
	if dir == "" {
		return
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return
	}
	tr, err := cgroup.Open(cgroup.InstanceID(db), cgroup.Options{})
	if err != nil {
		t.Errorf("reopen the cgroup subtree of %s: %v", db, err)
		return
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := tr.Purge(ctx); err != nil {
		t.Errorf("purge %s: %v", dir, err)
	}
}
