package config

import (
	"path/filepath"
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
	t.finish()
	return out
}
