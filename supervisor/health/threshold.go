package health

// threshold turns a stream of probe outcomes into report decisions. It is
// kept apart from Run so the counting rules can be tested without probes.
type threshold struct {
	failures    int  // from Spec.Failures
	consecutive int  // failures since the last success
	unhealthy   bool // the threshold was reported and no success followed yet
	passed      bool // a probe passed once: the first pass was reported
}

// observe records one outcome and says whether it must be reported. A failure
// is reported once, exactly when the count reaches the threshold; a success
// only when it ends a reported failure run.
func (t *threshold) observe(ok bool) bool {
	if ok {
		t.consecutive = 0
		if t.unhealthy {
			t.unhealthy = false
			return true
		}
		return false
	}
	t.consecutive++
	if !t.unhealthy && t.consecutive >= t.failures {
		t.unhealthy = true
		return true
	}
	return false
}
