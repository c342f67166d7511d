package config

import (
	"reflect"
	"testing"
	"time"

	"github.com/tendhq/tend/supervisor/core"
)

func TestOrderingErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"a cycle, spelled out",
			lines(`[worker.a]`, `command = ["/bin/a"]`, `depends_on = { b = "ready" }`,
				`[worker.b]`, `command = ["/bin/b"]`, `depends_on = { c = "started" }`,
				`[worker.c]`, `command = ["/bin/c"]`, `depends_on = { a = "ready" }`),
			[]string{`tend.toml:9: worker.c.depends_on.a: dependency cycle: a → b → c → a`}},
		{"an unknown worker, with the nearest name",
			lines(`[worker.api]`, `command = ["/bin/a"]`, `depends_on = { dbb = "ready" }`, `[worker.db]`, `command = ["/bin/db"]`),
			[]string{`tend.toml:3: worker.api.depends_on.dbb: no such worker (did you mean "db"?)`}},
		{"itself",
			lines(`[worker.a]`, `command = ["/bin/a"]`, `depends_on = { a = "ready" }`),
			[]string{`tend.toml:3: worker.a.depends_on.a: a worker cannot depend on itself`}},
		{"completed needs a one-shot",
			lines(`[worker.a]`, `command = ["/bin/a"]`, `depends_on = { b = "completed" }`, `[worker.b]`, `command = ["/bin/b"]`),
			[]string{`tend.toml:3: worker.a.depends_on.b: "completed" needs a one-shot (type = "oneshot"); b is a service`}},
		{"an unknown condition",
			lines(`[worker.a]`, `command = ["/bin/a"]`, `depends_on = { b = "up" }`, `[worker.b]`, `command = ["/bin/b"]`),
			[]string{`tend.toml:3: worker.a.depends_on.b: invalid value (use one of "started", "ready", "completed")`}},
		{"a descriptor out of range",
			okWorker + lines(`ready = "fd:2"`),
			[]string{`tend.toml:3: worker.web.ready: a descriptor must be "fd:N" with N from 3 to 1023 (0-2 are stdin, stdout and stderr)`}},
		{"a watchdog without notify",
			okWorker + lines(`watchdog = "10s"`),
			[]string{`tend.toml:3: worker.web.watchdog: only used with ready = "notify" (the worker pings with WATCHDOG=1)`}},
		{"ready by health without a check",
			okWorker + lines(`ready = "health"`),
			[]string{`tend.toml:3: worker.web.ready: ready = "health" needs a [worker.web.health] check`}},
		{"a bad cron expression, not repeated",
			okWorker + lines(`schedule = "every tuesday"`),
			[]string{`tend.toml:3: worker.web.schedule: invalid cron expression (five fields, minute hour day-of-month month day-of-week, such as "*/5 * * * *", or @hourly, @daily)`}},
		{"both schedule and every",
			okWorker + lines(`schedule = "@hourly"`, `every = "10m"`),
			[]string{`tend.toml:4: worker.web.every: give schedule or every, not both`}},
		{"overlap without a schedule",
			okWorker + lines(`overlap = "allow"`),
			[]string{`tend.toml:3: worker.web.overlap: only used with schedule = "..." or every = "..."`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseString(t, c.src)
			got := configErrors(t, err)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got\n  %q\nwant\n  %q", got, c.want)
			}
		})
	}
}

func TestOrderingParsed(t *testing.T) {
	c, err := parseString(t, lines(
		`[worker.db]`, `command = ["/bin/db"]`, `ready = "notify"`, `watchdog = "10s"`,
		`[worker.migrate]`, `command = ["/bin/m"]`, `type = "oneshot"`, `depends_on = { db = "ready" }`,
		`[worker.app]`, `command = ["/bin/app"]`, `ready = "fd:3"`, `ready_timeout = "20s"`,
		`[worker.app.depends_on]`, `migrate = "completed"`, `db = { condition = "ready", on_restart = "restart" }`,
		`[worker.cron]`, `command = ["/bin/c"]`, `schedule = "*/5 * * * *"`, `schedule_tz = "UTC"`, `catch_up = "once"`,
	))
	if err != nil {
		t.Fatal(err)
	}
	db, app, cron := c.Workers["db"], c.Workers["app"], c.Workers["cron"]
	if db.Ready != (core.Readiness{Kind: core.ReadyNotify, Timeout: DefaultReadyTimeout, Watchdog: 10 * time.Second}) {
		t.Errorf("db ready %+v", db.Ready)
	}
	if !c.Workers["migrate"].Oneshot || app.Ready != (core.Readiness{Kind: core.ReadyFD, FD: 3, Timeout: 20 * time.Second}) {
		t.Errorf("migrate oneshot %v, app ready %+v", c.Workers["migrate"].Oneshot, app.Ready)
	}
	want := []core.Dep{{Name: "db", Cond: core.Ready, OnRestart: core.DepRestart}, {Name: "migrate", Cond: core.Completed, OnRestart: core.DepIgnore}}
	if !reflect.DeepEqual(app.DependsOn, want) {
		t.Errorf("app depends on %+v", app.DependsOn)
	}
	s := cron.Schedule.Core()
	at := time.Date(2030, 1, 1, 10, 2, 0, 0, time.UTC)
	if next := s.Next(at); !next.Equal(time.Date(2030, 1, 1, 10, 5, 0, 0, time.UTC)) || s.CatchUp != "once" || s.Overlap != "forbid" {
		t.Errorf("cron next %v, %+v", next, s)
	}
}
