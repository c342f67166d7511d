package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
)

const exportWorker = "[worker.web]\ncommand = [\"/bin/true\"]\n"

func TestExportAndNotifyParse(t *testing.T) {
	c := mustParse(t, lines(
		"[export.nats]",
		`url = "nats://10.0.0.5:4222, tls://10.0.0.6:4222"`,
		`creds = "tend.creds"`,
		`window = 64`,
		`lag_warning = "30s"`,
		"",
		"[[notify]]",
		`name = "ops"`,
		`on = ["breaker_opened", "limit_violated", "breaker_opened"]`,
		`workers = ["web"]`,
		`webhook = "https://hooks.example.com/T0/secret-token"`,
		`hmac_secret_env = "TEND_HOOK_KEY"`,
		"",
		"[[notify]]",
		`name = "pager"`,
		`on = ["notify_failed"]`,
		`exec = ["/usr/local/bin/page", "--team", "ops"]`,
		`max_attempts = 3`,
		"",
		exportWorker))
	n := c.Export.NATS
	if n == nil || n.Stream != DefaultExportStream || n.Subject != DefaultExportSubject || n.Window != 64 ||
		n.LagWarning != 30*time.Second || n.DuplicateWindow != DefaultDuplicateWindow || n.Replicas != 1 ||
		!filepath.IsAbs(n.Creds) || n.Host != "" {
		t.Errorf("export: %+v", n)
	}
	if len(c.Notify) != 2 {
		t.Fatalf("notify: %+v", c.Notify)
	}
	ops, pager := c.Notify[0], c.Notify[1]
	if ops.Name != "ops" || len(ops.On) != 2 || ops.On[0] != events.BreakerOpened || ops.Workers[0] != "web" ||
		ops.Timeout != DefaultNotifyTimeout || ops.MaxAttempts != DefaultNotifyAttempts || ops.StderrLines != DefaultStderrLines || ops.Line != 7 {
		t.Errorf("ops: %+v", ops)
	}
	if pager.Exec[0] != "/usr/local/bin/page" || pager.MaxAttempts != 3 || pager.On[0] != events.NotifyFailed || pager.Line != 14 {
		t.Errorf("pager: %+v", pager)
	}
	if c := mustParse(t, exportWorker); c.Export.NATS != nil || c.Notify != nil {
		t.Error("export or notify on without their tables")
	}
}

// Every mistake is named by file, line and key, and no error repeats the
// value it refuses: a URL or a webhook may hold a secret.
func TestExportAndNotifyErrors(t *testing.T) {
	const secret = "hunter2-SECRET"
	cases := []struct {
		name, src, want string
	}{
		{"url with credentials", `[export.nats]` + "\n" + `url = "nats://tend:` + secret + `@host:4222"`,
			"tend.toml:2: export.nats.url: must not carry credentials"},
		{"url scheme", `[export.nats]` + "\n" + `url = "http://` + secret + `:4222"`, "tend.toml:2: export.nats.url: invalid URL scheme"},
		{"no url", "[export.nats]\nstream = \"T\"", "tend.toml:1: export.nats.url: required key is missing"},
		{"bad stream", "[export.nats]\nurl = \"nats://h:1\"\nstream = \"a.b\"", "tend.toml:3: export.nats.stream: invalid stream name"},
		{"bad subject", "[export.nats]\nurl = \"nats://h:1\"\nsubject = \"tend.>\"", "tend.toml:3: export.nats.subject: invalid subject prefix"},
		{"two auths", "[export.nats]\nurl = \"nats://h:1\"\ncreds = \"a\"\nnkey = \"b\"", "export.nats.creds: give one way to authenticate"},
		{"user without password", "[export.nats]\nurl = \"nats://h:1\"\nuser = \"u\"", "tend.toml:3: export.nats.user: needs password_file or password_env"},
		{"password written in", "[export.nats]\nurl = \"nats://h:1\"\nuser = \"u\"\npassword = \"" + secret + "\"", "tend.toml:4: export.nats.password: unknown key"},
		{"window", "[export.nats]\nurl = \"nats://h:1\"\nwindow = 0", "tend.toml:3: export.nats.window: must be between 1 and 65536"},
		{"cert without key", "[export.nats]\nurl = \"nats://h:1\"\ntls_cert = \"c.pem\"", "export.nats.tls_cert: tls_cert and tls_key go together"},
		{"notify no name", "[[notify]]\non = [\"exited\"]\nexec = [\"/bin/true\"]", "tend.toml:1: notify.1.name: required key is missing"},
		{"notify type typo", exportWorker + "[[notify]]\nname = \"a\"\non = [\"breaker_opend\"]\nexec = [\"/bin/true\"]",
			`tend.toml:5: notify.1.on: element 0: unknown event type (did you mean "breaker_opened"?)`},
		{"second entry's line", exportWorker + "[[notify]]\nname = \"a\"\non = [\"exited\"]\nexec = [\"/bin/true\"]\n\n[[notify]]\nname = \"b\"\non = [\"exited\"]\nwebhook = \"ftp://" + secret + "\"",
			"tend.toml:11: notify.2.webhook: invalid URL"},
		{"duplicate name", "[[notify]]\nname = \"a\"\non = [\"exited\"]\nexec = [\"/bin/true\"]\n[[notify]]\nname = \"a\"\non = [\"exited\"]\nexec = [\"/bin/true\"]",
			"tend.toml:6: notify.2.name: another [[notify]] has this name"},
		{"unknown worker", exportWorker + "[[notify]]\nname = \"a\"\non = [\"exited\"]\nworkers = [\"wbe\"]\nexec = [\"/bin/true\"]", "tend.toml:6: notify.1.workers: element 0: no such worker"},
		{"both targets", "[[notify]]\nname = \"a\"\non = [\"exited\"]\nexec = [\"/bin/true\"]\nwebhook = \"http://h/\"", "notify.1.exec: give webhook or exec, not both"},
		{"no target", "[[notify]]\nname = \"a\"\non = [\"exited\"]", "notify.1.webhook: required"},
		{"hmac for exec", "[[notify]]\nname = \"a\"\non = [\"exited\"]\nexec = [\"/bin/true\"]\nhmac_secret_env = \"K\"", "notify.1.hmac_secret_file: signs webhook bodies only"},
		{"attempts bound", "[[notify]]\nname = \"a\"\non = [\"exited\"]\nexec = [\"/bin/true\"]\nmax_attempts = 100000", "tend.toml:5: notify.1.max_attempts: must be between 1 and 1000"},
		{"not an array", "notify = \"" + secret + "\"", "tend.toml:1: notify: expected an array of tables [[notify]], got a string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseString(t, c.src)
			msgs := strings.Join(configErrors(t, err), "\n")
			if !strings.Contains(msgs, c.want) {
				t.Errorf("got:\n%s\nwant a line containing:\n%s", msgs, c.want)
			}
			if strings.Contains(msgs, secret) {
				t.Errorf("an error repeats the value:\n%s", msgs)
			}
		})
	}
}

func TestExportFilesAndWarnings(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "tend.creds")
	os.WriteFile(creds, []byte("-----BEGIN NATS USER JWT-----\n"), 0o644)
	path := writeFile(t, filepath.Join(dir, "tend.toml"), lines(
		"[export.nats]", `url = "nats://127.0.0.1:4222"`, `creds = "tend.creds"`, `tls_ca = "missing.pem"`,
		"[[notify]]", `name = "a"`, `on = ["exited"]`, `webhook = "http://127.0.0.1/"`, `hmac_secret_env = "TEND_TEST_UNSET_KEY"`))
	_, err := Load(path)
	msgs := strings.Join(configErrors(t, err), "\n")
	if !strings.Contains(msgs, "tend.toml:4: export.nats.tls_ca: cannot read the file") || strings.Contains(msgs, "missing.pem") {
		t.Errorf("missing file: %s", msgs)
	}
	os.WriteFile(filepath.Join(dir, "missing.pem"), nil, 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	if !strings.Contains(w, "tend.toml:3: export.nats.creds: the file holds a secret and others can read it") ||
		!strings.Contains(w, "tend.toml:9: notify.1.hmac_secret_env: the variable is not set") {
		t.Errorf("warnings:\n%s", w)
	}
	os.Chmod(creds, 0o600)
	t.Setenv("TEND_TEST_UNSET_KEY", "k")
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("warnings after the fix: %v", w)
	}
}
