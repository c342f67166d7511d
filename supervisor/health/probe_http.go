package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// bodyLimit bounds how much of a response body is drained. Draining lets the
// server finish its write cleanly; the content itself is not judged.
const bodyLimit = 4 << 10

// httpProber is healthy iff a GET returns 2xx or 3xx. Redirects are not
// followed: a 3xx already proves the server answers, and following it could
// make the check depend on another host.
type httpProber struct {
	url     string
	timeout time.Duration
	client  *http.Client
}

func newHTTPProber(spec Spec) prober {
	tr := &http.Transport{
		// One fresh connection per probe: the check then exercises accept,
		// and no connection outlives the probe that opened it.
		DisableKeepAlives: true,
		Proxy:             nil, // a worker on localhost must not be reached through HTTP_PROXY
	}
	return &httpProber{
		url:     spec.URL,
		timeout: spec.Timeout,
		client: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

func (p *httpProber) probe(ctx context.Context) (bool, string) {
	prefix := "GET " + p.url + ": "
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return false, prefix + err.Error()
	}
	req.Header.Set("User-Agent", "tend-health")
	resp, err := p.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return false, prefix + describe(ctx, err, p.timeout)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, bodyLimit))
	resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 400
	return ok, fmt.Sprintf("%sstatus %d", prefix, resp.StatusCode)
}

func (p *httpProber) close() { p.client.CloseIdleConnections() }
