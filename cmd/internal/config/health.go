package config

// healthTargets names, for each check type, the one key that says what to
// check; the other two are refused so a leftover from an edited type does
// not look like it is in use.
func healthTargets() [3]struct{ typ, key string } {
	return [3]struct{ typ, key string }{
		{HealthExec, "command"},
		{HealthTCP, "address"},
		{HealthHTTP, "url"},
	}
}

func (d *decoder) health(t *table) *Health {
	h := &Health{}
	if !t.has("type") {
		t.errorf("type", `required key is missing (use "exec", "tcp" or "http")`)
	}
	h.Type = t.enum("type", "", HealthExec, HealthTCP, HealthHTTP)

	h.Command, _ = t.stringList("command")
	t.checkArgStrings("command", h.Command)
	h.Address = t.str("address", "")
	h.URL = t.str("url", "")
	for _, ht := range healthTargets() {
		switch {
		case h.Type == "":
		case ht.typ == h.Type && !t.has(ht.key):
			t.errorf(ht.key, "required key is missing for type = %q", h.Type)
		case ht.typ != h.Type && t.has(ht.key):
			t.errorf(ht.key, "is only used with type = %q, not %q", ht.typ, h.Type)
		}
	}
	if h.Type == HealthExec && t.has("command") && h.Command != nil && (len(h.Command) == 0 || h.Command[0] == "") {
		t.errorf("command", "must name a program")
	}
	if h.Type == HealthTCP && t.has("address") {
		if err := checkHostPort(h.Address); err != nil {
			t.errorf("address", "%v", err)
		}
	}
	if h.Type == HealthHTTP && t.has("url") {
		if err := checkHTTPURL(h.URL); err != nil {
			t.errorf("url", "%v", err)
		}
	}

	h.Interval = t.durationIn("interval", DefaultHealthInterval, MinHealthInterval, MaxHealthInterval)
	if h.Interval == 0 {
		t.errorf("interval", "must be greater than 0")
		h.Interval = DefaultHealthInterval
	}
	h.Timeout = t.durationIn("timeout", DefaultHealthTimeout, 0, MaxHealthTimeout)
	if h.Timeout == 0 {
		t.errorf("timeout", "must be greater than 0")
		h.Timeout = DefaultHealthTimeout
	}
	h.Failures = t.intIn("failures", DefaultHealthFailures, 1, MaxHealthFailures)
	h.Grace = t.durationIn("grace", DefaultHealthGrace, 0, MaxHealthGrace)
	t.finish()
	return h
}
