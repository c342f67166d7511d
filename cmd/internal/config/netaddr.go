package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// checkHostPort accepts "host:port" with a port from 1 to 65535. An empty
// host is allowed: it means every interface when listening and the local
// host when dialling.
func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("invalid address %q (use host:port, e.g. \"127.0.0.1:9100\")", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("invalid port in %q (use 1-65535)", s)
	}
	return nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid URL %q (use e.g. \"http://127.0.0.1:8080/healthz\")", s)
	}
	return nil
}

// checkRPCEndpoint accepts unix:///absolute/path or http://host:port.
func checkRPCEndpoint(s string) error {
	bad := fmt.Errorf("invalid endpoint %q (use \"unix:///path/to/supervisor.sock\" or \"http://host:port\")", s)
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
