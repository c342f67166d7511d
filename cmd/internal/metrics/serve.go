package metrics

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
)

// Serve serves h at GET /metrics on ln until stop is called. With
// webConfig, the path of a Prometheus exporter-toolkit web configuration
// file (TLS, client certificates, basic auth with bcrypt hashes, rate
// limit), it is served as that file says, and the file is read again on
// every request and connection, as the toolkit does; empty, plain HTTP.
// Check the file with ValidateWebConfig first: Serve only logs what goes
// wrong once it runs.
func Serve(ln net.Listener, h http.Handler, webConfig string, logger *slog.Logger) (stop func()) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		// Failed handshakes (a scanner, a client without TLS) are routine
		// on a listener others can reach: debug, not stderr.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	addrs := []string{ln.Addr().String()}
	systemd := false
	flags := &web.FlagConfig{WebListenAddresses: &addrs, WebSystemdSocket: &systemd, WebConfigFile: &webConfig}
	go func() {
		if err := web.Serve(ln, srv, flags, logger); err != nil && err != http.ErrServerClosed {
			logger.Error("metrics listener failed", "err", err)
		}
	}()
	return func() { _ = srv.Close() }
}

// ValidateWebConfig reads a web configuration file and the certificates
// and keys it names, as Serve will.
func ValidateWebConfig(path string) error { return web.Validate(path) }

// BeyondLoopback says whether a listen address ("host:port", or an
// address a listener reports) may be reached from other hosts: every
// interface (an empty host, 0.0.0.0, ::), an address that is not a
// loopback one, or a host name, which may resolve to anything.
func BeyondLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return true
	}
	return !ip.IsLoopback()
}
