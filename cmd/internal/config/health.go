package config

import "github.com/tendhq/tend/supervisor/health"

// health decodes a [worker.NAME.health] table into the health package's
// Spec. Which keys a probe type needs or refuses, and what makes a value
// wrong, is health.Spec.Validate's to say; this adds only what is about the
// file: type is required, the defaults of the rest, and their bounds.
func (d *decoder) health(t *table) *health.Spec {
	types := names(health.Types())
	if !t.has("type") {
		t.errorf("type", "required key is missing (use %s)", orList(types))
	}
	h := &health.Spec{Type: health.Type(t.enum("type", "", types...))}
	h.Command, _ = t.stringList("command")
	t.checkArgStrings("command", h.Command)
	h.Address = t.str("address", "")
	h.URL = t.str("url", "")
	h.Interval = t.durationIn("interval", DefaultHealthInterval, MinHealthInterval, MaxHealthInterval)
	h.Timeout = t.durationIn("timeout", DefaultHealthTimeout, 0, MaxHealthTimeout)
	h.Failures = t.intIn("failures", DefaultHealthFailures, 1, MaxHealthFailures)
	h.Grace = t.durationIn("grace", DefaultHealthGrace, 0, MaxHealthGrace)
	t.specErrors(h, h.Validate())
	t.finish()
	return h
}
