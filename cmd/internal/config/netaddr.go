package config

import (
	"errors"
	"net"
	"net/url"
	"strconv"
)

// These errors never repeat the value they refuse: a URL may carry a
// password, and the file and line already point at it. A health check's
// address and URL are health.Spec.Validate's to check.

// checkHostPort accepts "host:port" with a port from 1 to 65535. An empty
// host is allowed: it means every interface when listening and the local
// host when dialling.
func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New(`invalid address (use host:port, e.g. "127.0.0.1:9100")`)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return errors.New("invalid port (use 1-65535)")
	}
	return nil
}

// checkRPCEndpoint accepts unix:///absolute/path or http://host:port.
func checkRPCEndpoint(s string) error {
	bad := errors.New(`invalid endpoint (use "unix:///path/to/supervisor.sock" or "http://host:port")`)
	u, err := url.Parse(s)
	if err != nil {
		return bad
	}
	switch u.Scheme {
	case "unix":
		if u.Host != "" || len(u.Path) < 2 || u.Path[0] != '/' {
			return bad
		}
		return nil
	case "http":
		if checkHostPort(u.Host) != nil {
			return bad
		}
		return nil
	}
	return bad
}
