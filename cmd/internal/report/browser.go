package report

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// chromiumPath finds the headless browser: Debian's /usr/bin/chromium, or
// a chromium on PATH.
func chromiumPath() (string, error) {
	const debian = "/usr/bin/chromium"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		return "", fmt.Errorf("chromium is not installed (no %s, none on PATH)", debian)
	}
	return p, nil
}

// browserTimeout bounds one headless run: a report that takes longer than
// this to load is broken, and a hung browser must not hang make.
const browserTimeout = 2 * time.Minute

// Screenshot renders the report at htmlPath in headless Chromium, 1400×900,
// and writes a PNG to pngPath (for `make report-screenshot`).
func Screenshot(htmlPath, pngPath string) error {
	abs, err := filepath.Abs(htmlPath)
	if err != nil {
		return fmt.Errorf("report: screenshot %s: %w", htmlPath, err)
	}
	out, err := filepath.Abs(pngPath)
	if err != nil {
		return fmt.Errorf("report: screenshot to %s: %w", pngPath, err)
	}
	if _, err := runChromium(context.Background(), "file://"+abs,
		"--screenshot="+out, "--window-size=1400,900", "--hide-scrollbars"); err != nil {
		return fmt.Errorf("report: screenshot %s: %w", htmlPath, err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
		return fmt.Errorf("report: screenshot %s: chromium wrote no image to %s", htmlPath, out)
	}
	return nil
}

// dumpDOM loads url in headless Chromium and returns the DOM once the page's
// scripts have run (and any frames and timers they queued, within a few
// seconds of virtual time).
func dumpDOM(ctx context.Context, url string) (string, error) {
	out, err := runChromium(ctx, url, "--dump-dom", "--window-size=1400,900", "--virtual-time-budget=5000")
	if err != nil {
		return "", fmt.Errorf("report: dump DOM of %s: %w", url, err)
	}
	return string(out), nil
}

// runChromium runs headless Chromium with a throwaway profile and nothing
// that reaches the network on its own, so a report's rendering is all that
// is tested and no state leaks between runs.
func runChromium(ctx context.Context, url string, args ...string) ([]byte, error) {
	bin, err := chromiumPath()
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "tend-report-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), url)...)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("chromium did not finish in %s", browserTimeout)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("chromium: %w: %s", err, stderr.String())
		}
		return nil, fmt.Errorf("chromium: %w", err)
	}
	return out, nil
}

// limitedBuffer keeps the last few KiB of Chromium's chatty stderr for an
// error message.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.b = append(l.b, p...)
	if len(l.b) > 4096 {
		l.b = l.b[len(l.b)-4096:]
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
