package config

import (
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tendhq/tend/supervisor/core"
)

// maxSocketPath is the usable length of sun_path on Linux; a longer socket
// path fails at bind time, long after the operator has walked away.
const maxSocketPath = 107

func (d *decoder) daemon(t *table, dir string) Daemon {
	var out Daemon
	out.StateDir = resolve(dir, t.str("state_dir", DefaultStateDir))
	if out.StateDir == "" {
		t.errorf("state_dir", "must not be empty")
		out.StateDir = DefaultStateDir
	}
	out.Socket = resolve(dir, t.str("socket", ""))
	socketKey := "socket"
	if out.Socket == "" {
		out.Socket = filepath.Join(out.StateDir, DefaultSocketName)
		socketKey = "state_dir"
	}
	if len(out.Socket) > maxSocketPath {
		t.errorf(socketKey, "the socket path would be %d bytes; Unix sockets allow at most %d", len(out.Socket), maxSocketPath)
	}
	out.SocketGroup = t.str("socket_group", "")
	out.LogLevel = t.enum("log_level", DefaultLogLevel, "trace", "debug", "info", "warn", "error")
	out.MetricsListen = t.str("metrics_listen", "")
	if out.MetricsListen != "" {
		if err := checkHostPort(out.MetricsListen); err != nil {
			t.errorf("metrics_listen", "%v", err)
		}
	}
	out.MetricsWebConfig = resolve(dir, t.str("metrics_web_config", ""))
	if out.MetricsWebConfig != "" && out.MetricsListen == "" {
		t.errorf("metrics_web_config", "is only used with metrics_listen")
	}
	out.SupervisorRPC = t.str("supervisor_rpc", "")
	if out.SupervisorRPC != "" {
		if err := checkRPCEndpoint(out.SupervisorRPC); err != nil {
			t.errorf("supervisor_rpc", "%v", err)
		}
	}
	out.LeaveRunning = t.boolean("leave_running", false)
	out.SampleInterval = t.durationIn("sample_interval", DefaultSampleInterval, MinSampleInterval, MaxSampleInterval)
	if out.SampleInterval == 0 {
		t.errorf("sample_interval", "must be greater than 0")
		out.SampleInterval = DefaultSampleInterval
	}
	out.LogCheckInterval = t.duration("log_check_interval", DefaultLogCheckInterval)
	if out.LogCheckInterval == 0 {
		t.errorf("log_check_interval", "must be greater than 0")
		out.LogCheckInterval = DefaultLogCheckInterval
	}
	modes := core.ExitOnModes()
	names := make([]string, len(modes))
	for i, m := range modes {
		names[i] = string(m)
	}
	out.ExitOn = core.ExitOn(t.enum("exit_on", string(core.ExitNever), names...))
	out.ConsoleTimestamps = t.boolean("console_timestamps", false)
	out.ProcessTracking = t.enum("process_tracking", DefaultProcessTracking, TrackingAuto, TrackingCgroup, TrackingPgroup)
	t.finish()
	return out
}

// RPCSocket is the path of the supervisorctl socket that supervisor_rpc
// names ("unix:///path"), or "" when there is none.
func (d Daemon) RPCSocket() string {
	p, ok := strings.CutPrefix(d.SupervisorRPC, "unix://")
	if !ok {
		return ""
	}
	return filepath.Clean(p)
}

// SocketKey is the key the control socket's path comes from: socket, or
// state_dir when the socket is the default one inside it.
func (c *Config) SocketKey() []string { return c.src.main.lines().socketKey() }

func (ix lineIndex) socketKey() toml.Key {
	if e, ok := ix["daemon.socket"]; ok && e.explicit {
		return toml.Key{"daemon", "socket"}
	}
	return toml.Key{"daemon", "state_dir"}
}

// socketPaths checks that the sockets do not share a path with each other
// or with a file tend writes (the event log, a worker's output): whatever
// was created second would fail, or take the other's place.
func (d *decoder) socketPaths(dm Daemon, workers map[string]*Worker, order []string) {
	type socket struct {
		key  toml.Key
		path string
	}
	socks := []socket{{d.main.lines().socketKey(), dm.Socket}}
	if p := dm.RPCSocket(); p != "" {
		socks = append(socks, socket{toml.Key{"daemon", "supervisor_rpc"}, p})
	}
	if len(socks) == 2 && socks[0].path == socks[1].path {
		d.errorf(socks[1].key, "%s is also the control socket's path; the two sockets need paths of their own", socks[1].path)
	}
	for _, s := range socks {
		if s.path == filepath.Join(dm.StateDir, LogName) {
			d.errorf(s.key, "%s is the event log's path; the socket needs a path of its own", s.path)
		}
		for _, name := range order {
			w := workers[name]
			for _, out := range [][2]string{{"stdout", w.Stdout}, {"stderr", w.Stderr}} {
				if out[1] == s.path {
					d.errorf(s.key, "%s is also worker %q's %s file; the socket needs a path of its own", s.path, name, out[0])
				}
			}
		}
	}
}
