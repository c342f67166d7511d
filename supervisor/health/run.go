package health

import (
	"context"
	"time"
)

// Report is one change of the worker's health as seen by the check.
type Report struct {
	// Healthy false: the failure threshold was just reached. Healthy true:
	// the first success after an unhealthy report, or (First) the first
	// success of the check at all.
	Healthy bool
	// First: the check passed for the first time (a worker whose readiness
	// is its health check is ready). Reported once, and not a change of
	// health.
	First       bool
	Consecutive int       // consecutive failures at the time of the report
	Detail      string    // the probe's outcome as a sentence, e.g. "GET http://127.0.0.1:8080/healthz: status 503"
	At          time.Time // when the reported probe finished
}

// prober runs one probe bounded by ctx. ok is the verdict; detail describes
// the outcome for a human either way.
type prober interface {
	probe(ctx context.Context) (ok bool, detail string)
	close()
}

// Run blocks until ctx is done. It waits Grace, then probes every Interval,
// each probe bounded by Timeout, one at a time (a probe slower than Interval
// delays the next one instead of overlapping it).
//
// report is called from Run's goroutine: once when Failures consecutive
// failures are reached (not again while the failures continue), and once on
// the first success after that. It is never called after ctx is done has been
// observed, and a probe cut short by ctx is not counted.
//
// A spec that fails Validate probes nothing: Run reports one unhealthy Report
// carrying the validation error and waits for ctx.
func Run(ctx context.Context, spec Spec, report func(Report)) {
	if err := spec.Validate(); err != nil {
		report(Report{Healthy: false, Detail: err.Error(), At: time.Now()})
		<-ctx.Done()
		return
	}
	p := newProber(spec)
	defer p.close()

	if !sleep(ctx, spec.Grace) {
		return
	}
	tick := time.NewTicker(spec.Interval)
	defer tick.Stop()
	t := threshold{failures: spec.Failures}
	for {
		pctx, cancel := context.WithTimeout(ctx, spec.Timeout)
		ok, detail := p.probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if ok && !t.passed {
			t.passed = true
			report(Report{Healthy: true, First: true, Detail: detail, At: time.Now()})
		}
		if t.observe(ok) {
			report(Report{Healthy: ok, Consecutive: t.consecutive, Detail: detail, At: time.Now()})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// newProber makes the prober of a valid spec's type.
func newProber(spec Spec) prober {
	p, _ := lookup(spec.Type)
	return p.prober(spec)
}

// sleep waits d or until ctx is done, and says whether the full d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
