package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Profiles are for root and the daemon's own user: a member of the socket
// group, who may run every command, may not make the daemon profile itself.
func TestProfilesAreForRootOnly(t *testing.T) {
	needRoot(t)
	group, gid := usersGroup(t)
	e := newEnv(t, "")
	e.write(fmt.Sprintf("[daemon]\nstate_dir = \"state\"\nsocket_group = %q\n\n[worker.a]\ncommand = %s\n", group, helperCmd("hang")))
	e.startDaemon()
	e.waitStatus("a", "running", running)
	reachable(t, e)
	sock := filepath.Join(e.dir, "state", "tend.sock")
	get := func(nobodyInGroup bool, path string) string {
		t.Helper()
		cmd := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", sock, "http://tend"+path)
		if nobodyInGroup {
			asNobody(cmd, gid)
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl %s: %v", path, err)
		}
		return strings.TrimSpace(string(out))
	}
	if code := get(true, "/v1/status"); code != "200" {
		t.Fatalf("a member of the socket group could not read status (HTTP %s): the test does not reach the socket", code)
	}
	for _, p := range []string{"/debug/pprof/heap", "/debug/pprof/goroutine?debug=1", "/debug/pprof/profile?seconds=1"} {
		if code := get(true, p); code != "403" {
			t.Errorf("GET %s as a member of the socket group: HTTP %s, want 403", p, code)
		}
	}
	if code := get(false, "/debug/pprof/heap"); code != "200" {
		t.Errorf("GET /debug/pprof/heap as root: HTTP %s, want 200", code)
	}
}
