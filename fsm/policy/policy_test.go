package policy

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestSpecValidate(t *testing.T) {
	good := Spec{Restart: OnFailure, BackoffInitial: time.Second, BackoffMax: 30 * time.Second,
		BreakerMax: 5, BreakerWindow: time.Minute}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid spec rejected: %v", err)
	}
	for _, m := range Modes() {
		s := good
		s.Restart = m
		if err := s.Validate(); err != nil {
			t.Errorf("%s rejected: %v", m, err)
		}
	}
	bad := []struct {
		name   string
		mut    func(*Spec)
		fields []string
	}{
		{"no mode", func(s *Spec) { s.Restart = "" }, []string{"Restart"}},
		{"mode in capitals", func(s *Spec) { s.Restart = "Always" }, []string{"Restart"}},
		{"neg initial", func(s *Spec) { s.BackoffInitial = -1 }, []string{"BackoffInitial"}},
		{"max<initial", func(s *Spec) { s.BackoffMax = time.Millisecond }, []string{"BackoffMax"}},
		{"neg breaker", func(s *Spec) { s.BreakerMax = -1 }, []string{"BreakerMax"}},
		{"no window", func(s *Spec) { s.BreakerWindow = 0 }, []string{"BreakerWindow"}},
		{"neg cool", func(s *Spec) { s.BreakerCooldown = -1 }, []string{"BreakerCooldown"}},
		{"neg stable", func(s *Spec) { s.StableAfter = -1 }, []string{"StableAfter"}},
		{"every bad field", func(s *Spec) { *s = Spec{Restart: "x", BackoffInitial: -2, BackoffMax: -3, BreakerMax: 1} },
			[]string{"Restart", "BackoffInitial", "BackoffMax", "BreakerWindow"}},
	}
	for _, c := range bad {
		s := good
		c.mut(&s)
		err := s.Validate()
		var got []string
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("%s: %v is not a *FieldError", c.name, e)
				}
				got = append(got, fe.Field)
			}
		}
		if !slices.Equal(got, c.fields) {
			t.Errorf("%s: errors name %v, want %v (%v)", c.name, got, c.fields, err)
		}
	}
	// The reasons name settings by their keys in the file and never
	// repeat a value.
	err := Spec{Restart: "hunter2-secret", BackoffMax: time.Minute, BreakerMax: 1}.Validate()
	want := "policy: Restart: invalid value (use one of \"always\", \"on-failure\", \"never\")\n" +
		"policy: BreakerWindow: must be greater than 0 while circuit_max_restarts is set (set circuit_max_restarts = 0 to turn the breaker off)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestStableThreshold(t *testing.T) {
	cases := []struct {
		spec Spec
		want time.Duration
	}{
		{Spec{StableAfter: 3 * time.Second, BackoffMax: time.Minute}, 3 * time.Second},
		{Spec{BackoffMax: time.Minute}, time.Minute},
		{Spec{BackoffMax: time.Second}, 10 * time.Second},
		{Spec{StableAfter: -time.Second, BackoffMax: time.Minute}, time.Minute},
		{Spec{}, 10 * time.Second},
	}
	for _, c := range cases {
		if got := c.spec.StableThreshold(); got != c.want {
			t.Errorf("%+v: StableThreshold() = %s, want %s", c.spec, got, c.want)
		}
	}
}

// exitKinds covers every distinct branch of Exit.Failure and Exit.String.
var exitKinds = []struct {
	name    string
	exit    Exit
	failure bool
}{
	{"clean", Exit{}, false},
	{"code", Exit{Code: 1}, true},
	{"unknown code", Exit{Code: -1}, true},
	{"signal", Exit{Code: -1, Signal: 9}, true},
	{"failed start", Exit{FailedStart: true, Code: 2}, true},
	{"failed start clean code", Exit{FailedStart: true}, true},
	{"lost", Exit{Code: -1, Lost: true}, true},
	{"requested clean", Exit{Requested: true}, false},
	{"requested signal", Exit{Requested: true, Code: -1, Signal: 15}, true},
	{"requested lost", Exit{Requested: true, Lost: true}, true},
}

func TestExitString(t *testing.T) {
	cases := []struct {
		exit Exit
		want string
	}{
		{Exit{}, "exited cleanly"},
		{Exit{Code: 3}, "exit status 3"},
		{Exit{Code: -1}, "exited with unknown status"},
		{Exit{Code: -1, Signal: 9}, "killed by signal 9"},
		{Exit{FailedStart: true}, "failed to start"},
		{Exit{FailedStart: true, Code: 2}, "failed to start (exit status 2)"},
		{Exit{FailedStart: true, Code: -1, Signal: 6}, "failed to start (killed by signal 6)"},
		{Exit{Lost: true, Code: -1, Signal: 9, FailedStart: true}, "lost while the daemon was down"},
		{Exit{Requested: true, Code: 1}, "exit status 1"},
	}
	for _, c := range cases {
		if got := c.exit.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.exit, got, c.want)
		}
	}
}

func TestExitFailure(t *testing.T) {
	for _, k := range exitKinds {
		if got := k.exit.Failure(); got != k.failure {
			t.Errorf("%s: Failure() = %v, want %v", k.name, got, k.failure)
		}
	}
}

func TestDecideModesByExitKinds(t *testing.T) {
	spec := Spec{BackoffInitial: time.Second, BackoffMax: 30 * time.Second}
	modes := []Restart{Always, OnFailure, Never, "", "bogus"}
	for _, mode := range modes {
		for _, k := range exitKinds {
			var want Verdict
			switch {
			case k.exit.Requested:
				want = NoRestart
			case mode == Always:
				want = RestartAfter
			case mode == OnFailure && k.failure:
				want = RestartAfter
			default:
				want = NoRestart
			}
			spec.Restart = mode
			d := Decide(spec, History{Streak: 2}, k.exit, t0, 0.5)
			if d.Verdict != want {
				t.Errorf("restart=%q exit=%s: verdict %v, want %v (%s)", mode, k.name, d.Verdict, want, d.Reason)
			}
			wantStreak := 2
			if k.failure && !k.exit.Requested {
				wantStreak = 3
			}
			if d.Streak != wantStreak {
				t.Errorf("restart=%q exit=%s: streak %d, want %d", mode, k.name, d.Streak, wantStreak)
			}
			if d.Verdict != RestartAfter && d.Delay != 0 {
				t.Errorf("restart=%q exit=%s: delay %s without restart", mode, k.name, d.Delay)
			}
			if d.Reason == "" {
				t.Errorf("restart=%q exit=%s: empty reason", mode, k.name)
			}
		}
	}
}

func TestDecideStreakAndDelay(t *testing.T) {
	spec := Spec{Restart: Always, BackoffInitial: time.Second, BackoffMax: 30 * time.Second, StableAfter: time.Minute}
	cases := []struct {
		name       string
		streak     int
		exit       Exit
		wantStreak int
		wantDelay  time.Duration // with jitter 1, i.e. the un-jittered base
	}{
		{"first failure waits initial", 0, Exit{Code: 1}, 1, time.Second},
		{"third failure doubles twice", 2, Exit{Code: 1, Ran: time.Second}, 3, 4 * time.Second},
		{"capped", 10, Exit{Code: 1}, 11, 30 * time.Second},
		{"stable failure forgives streak", 7, Exit{Code: 1, Ran: time.Minute}, 1, time.Second},
		{"just short of stable", 7, Exit{Code: 1, Ran: time.Minute - 1}, 8, 30 * time.Second},
		{"stable clean resets", 5, Exit{Ran: 2 * time.Minute}, 0, time.Second},
		{"quick clean keeps streak", 3, Exit{Ran: time.Second}, 3, 8 * time.Second},
		{"negative streak", -4, Exit{Code: 1}, 1, time.Second},
		{"saturated streak", math.MaxInt, Exit{Code: 1}, math.MaxInt, 30 * time.Second},
	}
	for _, c := range cases {
		d := Decide(spec, History{Streak: c.streak}, c.exit, t0, 1)
		if d.Verdict != RestartAfter || d.Streak != c.wantStreak || d.Delay != c.wantDelay {
			t.Errorf("%s: got %v delay=%s streak=%d; want restart delay=%s streak=%d (%s)",
				c.name, d.Verdict, d.Delay, d.Streak, c.wantDelay, c.wantStreak, d.Reason)
		}
	}
}

func TestDecideReasons(t *testing.T) {
	spec := Spec{Restart: OnFailure, BackoffInitial: time.Second, BackoffMax: 30 * time.Second,
		BreakerMax: 5, BreakerWindow: time.Minute}
	var five []time.Time
	for i := range 5 {
		five = append(five, t0.Add(-time.Duration(i+1)*time.Second))
	}
	cases := []struct {
		name   string
		spec   Spec
		h      History
		exit   Exit
		jitter float64
		want   string
	}{
		{"restart", spec, History{Streak: 2}, Exit{Code: 1}, 0.1,
			"exit status 1 with restart=on-failure: restart in 2.2s (attempt 3, backoff 1s..30s)"},
		{"explicit", spec, History{}, Exit{Requested: true, Signal: 15}, 0, "explicit stop: no restart"},
		{"clean", spec, History{}, Exit{}, 0, "exited cleanly with restart=on-failure"},
		{"breaker", spec, History{Restarts: five}, Exit{Code: -1, Signal: 9}, 0,
			"killed by signal 9 with restart=on-failure: 5 restarts within 1m0s (limit 5): circuit breaker opened"},
		{"never", Spec{Restart: Never}, History{}, Exit{Lost: true}, 0,
			"lost while the daemon was down with restart=never: no restart"},
		{"failed start", spec, History{}, Exit{FailedStart: true, Code: 127}, 0,
			"failed to start (exit status 127) with restart=on-failure: restart in 500ms (attempt 1, backoff 1s..30s)"},
	}
	for _, c := range cases {
		if got := Decide(c.spec, c.h, c.exit, t0, c.jitter).Reason; got != c.want {
			t.Errorf("%s:\n got  %q\n want %q", c.name, got, c.want)
		}
	}
}

func TestDecideBreaker(t *testing.T) {
	spec := Spec{Restart: Always, BackoffInitial: time.Second, BackoffMax: time.Minute,
		BreakerMax: 3, BreakerWindow: time.Minute}
	ago := func(ds ...time.Duration) []time.Time {
		var ts []time.Time
		for _, d := range ds {
			ts = append(ts, t0.Add(-d))
		}
		return ts
	}
	cases := []struct {
		name     string
		spec     Spec
		restarts []time.Time
		want     Verdict
	}{
		{"below limit", spec, ago(30*time.Second, 10*time.Second), RestartAfter},
		{"at limit", spec, ago(50*time.Second, 30*time.Second, 10*time.Second), OpenBreaker},
		{"one just outside", spec, ago(time.Minute, 30*time.Second, 10*time.Second), RestartAfter},
		{"one just inside", spec, ago(time.Minute-1, 30*time.Second, 10*time.Second), OpenBreaker},
		{"no breaker", Spec{Restart: Always, BreakerWindow: time.Minute}, ago(1, 2, 3, 4, 5), RestartAfter},
	}
	for _, c := range cases {
		d := Decide(c.spec, History{Restarts: c.restarts}, Exit{Code: 1}, t0, 0)
		if d.Verdict != c.want {
			t.Errorf("%s: verdict %v, want %v (%s)", c.name, d.Verdict, c.want, d.Reason)
		}
		if d.Verdict == OpenBreaker && (d.Delay != 0 || d.Streak != 1) {
			t.Errorf("%s: open breaker with delay %s streak %d", c.name, d.Delay, d.Streak)
		}
	}
	// A breaker only matters when a restart was otherwise due.
	d := Decide(Spec{Restart: Never, BreakerMax: 1, BreakerWindow: time.Minute},
		History{Restarts: ago(time.Second)}, Exit{Code: 1}, t0, 0)
	if d.Verdict != NoRestart {
		t.Errorf("never with full breaker: %v, want NoRestart", d.Verdict)
	}
}

func TestBackoff(t *testing.T) {
	const s = time.Second
	cases := []struct {
		name         string
		initial, max time.Duration
		attempt      int
		jitter       float64
		want         time.Duration
	}{
		{"attempt 0 top", s, 30 * s, 0, 1, s},
		{"attempt 0 bottom", s, 30 * s, 0, 0, s / 2},
		{"attempt 0 middle", s, 30 * s, 0, 0.5, 750 * time.Millisecond},
		{"doubling", s, 30 * s, 3, 1, 8 * s},
		{"capped", s, 30 * s, 5, 1, 30 * s},
		{"capped bottom", s, 30 * s, 5, 0, 15 * s},
		{"huge attempt", s, 30 * s, 1e9, 1, 30 * s},
		{"max int attempt", s, 30 * s, math.MaxInt, 1, 30 * s},
		{"negative attempt", s, 30 * s, -7, 1, s},
		{"initial above max", time.Hour, 30 * s, 0, 1, 30 * s},
		{"zero initial", 0, 30 * s, 4, 1, 0},
		{"negative initial", -s, 30 * s, 4, 1, 0},
		{"zero max", s, 0, 4, 1, 0},
		{"negative max", s, -s, 0, 1, 0},
		{"NaN jitter", s, 30 * s, 0, math.NaN(), s / 2},
		{"negative jitter", s, 30 * s, 0, -3, s / 2},
		{"jitter above 1", s, 30 * s, 0, 7, s},
		{"+Inf jitter", s, 30 * s, 0, math.Inf(1), s},
		{"max duration", math.MaxInt64, math.MaxInt64, 62, 1, math.MaxInt64},
		{"1ns", 1, 1, 0, 0.99, 0},
		{"1ns top", 1, 1, 0, 1, 1},
	}
	for _, c := range cases {
		if got := Backoff(c.initial, c.max, c.attempt, c.jitter); got != c.want {
			t.Errorf("%s: Backoff(%s, %s, %d, %v) = %s, want %s", c.name, c.initial, c.max, c.attempt, c.jitter, got, c.want)
		}
	}
}

func TestBreakerTrips(t *testing.T) {
	w := time.Minute
	at := func(ds ...time.Duration) []time.Time {
		var ts []time.Time
		for _, d := range ds {
			ts = append(ts, t0.Add(-d))
		}
		return ts
	}
	cases := []struct {
		name     string
		restarts []time.Time
		max      int
		window   time.Duration
		want     bool
	}{
		{"empty", nil, 1, w, false},
		{"max-1 inside", at(1, 2), 3, w, false},
		{"max inside", at(1, 2, 3), 3, w, true},
		{"max+1 inside", at(1, 2, 3, 4), 3, w, true},
		{"exactly window ago is outside", at(w, 2, 3), 3, w, false},
		{"just inside window", at(w-1, 2, 3), 3, w, true},
		{"old ones ignored", at(2*w, w+1, w, 1), 2, w, false},
		{"unordered", at(3, w*5, 1, 2), 3, w, true},
		{"future counts", at(-time.Hour, 1, 2), 3, w, true},
		{"zero max disables", at(1, 2, 3), 0, w, false},
		{"negative max disables", at(1), -1, w, false},
		{"zero window", at(0, 0, 0), 1, 0, false},
		{"huge window", at(math.MaxInt64-1, 1<<62), 2, math.MaxInt64, true},
		{"huge window boundary", at(math.MaxInt64, 1<<62), 2, math.MaxInt64, false},
	}
	for _, c := range cases {
		if got := BreakerTrips(c.restarts, t0, c.max, c.window); got != c.want {
			t.Errorf("%s: BreakerTrips = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCooldownOver(t *testing.T) {
	cases := []struct {
		name     string
		elapsed  time.Duration
		cooldown time.Duration
		want     bool
	}{
		{"before", time.Minute - 1, time.Minute, false},
		{"exactly", time.Minute, time.Minute, true},
		{"after", time.Hour, time.Minute, true},
		{"zero cooldown waits for operator", time.Hour, 0, false},
		{"negative cooldown waits for operator", time.Hour, -1, false},
		{"clock stepped back", -time.Hour, time.Minute, false},
	}
	for _, c := range cases {
		if got := CooldownOver(t0, t0.Add(c.elapsed), c.cooldown); got != c.want {
			t.Errorf("%s: CooldownOver = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestTrim(t *testing.T) {
	in := []time.Time{t0.Add(-2 * time.Minute), t0.Add(-time.Minute), t0.Add(-59 * time.Second), t0}
	got := Trim(in, t0, time.Minute)
	if len(got) != 2 || !got[0].Equal(in[2]) || !got[1].Equal(in[3]) {
		t.Fatalf("Trim = %v, want the last two", got)
	}
	got[0] = time.Time{}
	if in[2].IsZero() {
		t.Fatal("Trim result aliases its input")
	}
	if got := Trim(in, t0, 0); got != nil {
		t.Fatalf("Trim with zero window = %v, want nil", got)
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{NoRestart: "no-restart", RestartAfter: "restart-after",
		OpenBreaker: "open-breaker", 0: "Verdict(0)"} {
		if got := v.String(); got != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", int(v), got, want)
		}
	}
}
