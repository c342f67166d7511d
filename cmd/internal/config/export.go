package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tendhq/tend/events"
)

// Export holds the [export] table.
type Export struct {
	NATS *NATS // nil: the log is not exported
}

// NATS holds [export.nats]: the NATS JetStream server the daemon publishes
// every event of its log to. Secrets are named, never written here: a
// credentials file, an nkey seed file, a password file or the name of an
// environment variable that holds the password.
type NATS struct {
	URL     string // one or more nats://, tls://, ws:// or wss:// URLs, comma-separated
	Stream  string
	Subject string // the prefix of every subject: PREFIX.<host>.<worker>.<type>
	// Host is this host's name in subjects and headers; "" means the
	// kernel's host name, read when the daemon starts.
	Host string

	Creds        string // a .creds file (JWT and nkey seed)
	NKey         string // an nkey seed file
	User         string
	PasswordFile string
	PasswordEnv  string
	TLSCA        string
	TLSCert      string
	TLSKey       string

	// Window bounds the publishes awaiting the server's acknowledgement.
	Window int
	// LagWarning: the daemon warns in its log while the oldest event not
	// yet acknowledged is older than this; 0: never.
	LagWarning time.Duration
	// DuplicateWindow, Replicas and MaxAge are used only when the daemon
	// creates the stream.
	DuplicateWindow time.Duration
	Replicas        int
	MaxAge          time.Duration // 0: keep events forever
}

// Defaults and bounds of [export.nats] and [[notify]].
const (
	DefaultExportStream     = "TEND"
	DefaultExportSubject    = "tend"
	DefaultExportWindow     = 256
	MaxExportWindow         = 65536
	DefaultLagWarning       = time.Minute
	DefaultDuplicateWindow  = time.Hour
	MinDuplicateWindow      = time.Second
	MaxDuplicateWindow      = 7 * 24 * time.Hour
	MaxReplicas             = 5
	DefaultNotifyTimeout    = 10 * time.Second
	MaxNotifyTimeout        = time.Hour
	DefaultNotifyAttempts   = 10
	MaxNotifyAttempts       = 1000
	DefaultNotifyBackoff    = time.Second
	DefaultNotifyBackoffMax = time.Minute
	MaxNotifyBackoff        = 24 * time.Hour
	DefaultStderrLines      = 20
	MaxStderrLines          = 1000
	maxNameLen              = 64
)

// name reports whether s is 1-64 of A-Z a-z 0-9 _ -, the names of streams
// and alerts (they become NATS tokens and cursor names).
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (d *decoder) export(t *table, dir string) Export {
	var out Export
	if nt := t.sub("nats"); nt != nil {
		out.NATS = d.nats(nt, dir)
	}
	t.finish()
	return out
}

func (d *decoder) nats(t *table, dir string) *NATS {
	n := &NATS{}
	n.URL = t.secret("url")
	switch {
	case !t.has("url"):
		t.errorf("url", `required key is missing (e.g. url = "nats://127.0.0.1:4222")`)
	case n.URL != "":
		if err := checkNATSURLs(n.URL); err != nil {
			t.errorf("url", "%v", err)
		}
	}
	n.Stream = t.str("stream", DefaultExportStream)
	if !validName(n.Stream) {
		t.errorf("stream", "invalid stream name (use 1-%d of A-Z a-z 0-9 _ -)", maxNameLen)
	}
	n.Subject = t.str("subject", DefaultExportSubject)
	if !validSubject(n.Subject) {
		t.errorf("subject", "invalid subject prefix (tokens of A-Z a-z 0-9 _ - separated by dots, at most 128 bytes, no wildcards)")
	}
	n.Host = t.str("host", "")
	if t.has("host") && !validHost(n.Host) {
		t.errorf("host", "invalid host name (1-255 printable bytes without spaces)")
	}
	n.Creds = resolve(dir, t.str("creds", ""))
	n.NKey = resolve(dir, t.str("nkey", ""))
	n.User = t.str("user", "")
	n.PasswordFile = resolve(dir, t.str("password_file", ""))
	n.PasswordEnv = t.str("password_env", "")
	methods := 0
	for _, set := range []bool{n.Creds != "", n.NKey != "", n.User != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		t.errorf("creds", "give one way to authenticate: creds, nkey, or user with password_file or password_env")
	}
	switch {
	case n.PasswordFile != "" && n.PasswordEnv != "":
		t.errorf("password_env", "give password_file or password_env, not both")
	case (n.PasswordFile != "" || n.PasswordEnv != "") && n.User == "":
		t.errorf("user", "a password needs a user")
	case n.User != "" && n.PasswordFile == "" && n.PasswordEnv == "":
		t.errorf("user", "needs password_file or password_env (a password is never written in the file)")
	}
	if n.PasswordEnv != "" && !validEnvName(n.PasswordEnv) {
		t.errorf("password_env", "invalid environment variable name")
	}
	n.TLSCA = resolve(dir, t.str("tls_ca", ""))
	n.TLSCert = resolve(dir, t.str("tls_cert", ""))
	n.TLSKey = resolve(dir, t.str("tls_key", ""))
	if (n.TLSCert == "") != (n.TLSKey == "") {
		t.errorf("tls_cert", "tls_cert and tls_key go together")
	}
	n.Window = t.intIn("window", DefaultExportWindow, 1, MaxExportWindow)
	n.LagWarning = t.duration("lag_warning", DefaultLagWarning)
	n.DuplicateWindow = t.durationIn("duplicate_window", DefaultDuplicateWindow, MinDuplicateWindow, MaxDuplicateWindow)
	n.Replicas = t.intIn("replicas", 1, 1, MaxReplicas)
	n.MaxAge = t.duration("max_age", 0)
	if n.MaxAge != 0 && n.MaxAge < n.DuplicateWindow {
		t.errorf("max_age", "must be 0 (keep forever) or at least duplicate_window")
	}
	t.finish()
	return n
}

// checkNATSURLs accepts a comma-separated list of server URLs. A URL that
// carries credentials is refused: secrets are named by file or variable,
// never written in the configuration. The error never repeats the value.
func checkNATSURLs(s string) error {
	for _, part := range strings.Split(s, ",") {
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil || u.Host == "" {
			return errors.New(`invalid URL (use e.g. "nats://127.0.0.1:4222", several separated by commas)`)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return errors.New(`invalid URL scheme (use nats://, tls://, ws:// or wss://)`)
		}
		if u.User != nil {
			return errors.New("must not carry credentials (use user with password_file or password_env, creds, or nkey)")
		}
	}
	return nil
}

func validSubject(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" {
			return false
		}
		for _, c := range []byte(tok) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

func validHost(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func validEnvName(s string) bool {
	for i, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// Notify holds one [[notify]] entry: which events are alerts, and where
// they go.
type Notify struct {
	Name    string
	Line    int
	On      []events.Type
	Workers []string // empty: every worker (and daemon-level events)
	Webhook string   // an http:// or https:// URL; may hold a token, so it is never shown
	Exec    []string // a program and its arguments: the message on its stdin

	// HMACSecretFile or HMACSecretEnv name the key that signs a webhook's
	// body (header X-Tend-Signature: sha256=HEX).
	HMACSecretFile string
	HMACSecretEnv  string

	Timeout        time.Duration
	MaxAttempts    int // then a notify_failed event, the dead letter
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	StderrLines    int // the last lines of the worker's stderr each message carries
}

func (d *decoder) notify(v any, dir string, workers map[string]*Worker) []*Notify {
	arr, ok := v.([]map[string]any)
	if !ok {
		d.errorf(toml.Key{"notify"}, "expected an array of tables [[notify]], got %s", describe(v))
		return nil
	}
	var out []*Notify
	names := map[string]bool{}
	for i, m := range arr {
		t := newTable(d, d.main, toml.Key{"notify", fmt.Sprint(i + 1)}, m)
		n := &Notify{Line: t.line("")}
		n.Name = t.str("name", "")
		switch {
		case !t.has("name"):
			t.errorf("name", `required key is missing (e.g. name = "ops"; it keeps the alert's place in the log)`)
		case !validName(n.Name):
			t.errorf("name", "invalid name (use 1-%d of A-Z a-z 0-9 _ -)", maxNameLen)
		case names[n.Name]:
			t.errorf("name", "another [[notify]] has this name")
		}
		names[n.Name] = true
		on, present := t.stringList("on")
		if !present || (on != nil && len(on) == 0) {
			t.errorf("on", `required: the event types that alert (e.g. on = ["breaker_opened", "limit_violated"])`)
		}
		known := make([]string, 0, len(events.Types()))
		for _, typ := range events.Types() {
			known = append(known, typ.String())
		}
		seen := map[events.Type]bool{}
		for j, s := range on {
			typ, err := events.ParseType(s)
			if err != nil {
				msg := fmt.Sprintf("element %d: unknown event type", j)
				if c := closest(s, known); c != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", c)
				}
				t.errorf("on", "%s", msg)
				continue
			}
			if !seen[typ] {
				seen[typ] = true
				n.On = append(n.On, typ)
			}
		}
		ws, _ := t.stringList("workers")
		for j, w := range ws {
			if workers[w] == nil {
				t.errorf("workers", "element %d: no such worker in this file", j)
			}
		}
		n.Workers = ws
		n.Webhook = t.secret("webhook")
		n.Exec, _ = t.stringList("exec")
		switch {
		case t.has("webhook") && t.has("exec"):
			t.errorf("exec", "give webhook or exec, not both")
		case !t.has("webhook") && !t.has("exec"):
			t.errorf("webhook", "required: webhook (a URL) or exec (a command)")
		case t.has("webhook") && n.Webhook != "":
			if u, err := url.Parse(n.Webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				t.errorf("webhook", `invalid URL (use http:// or https://; the value is not shown, it may hold a token)`)
			}
		case t.has("exec") && n.Exec != nil && (len(n.Exec) == 0 || n.Exec[0] == ""):
			t.errorf("exec", "must name a program")
		}
		n.HMACSecretFile = resolve(dir, t.str("hmac_secret_file", ""))
		n.HMACSecretEnv = t.str("hmac_secret_env", "")
		switch {
		case n.HMACSecretFile != "" && n.HMACSecretEnv != "":
			t.errorf("hmac_secret_env", "give hmac_secret_file or hmac_secret_env, not both")
		case (n.HMACSecretFile != "" || n.HMACSecretEnv != "") && !t.has("webhook"):
			t.errorf("hmac_secret_file", "signs webhook bodies only")
		case n.HMACSecretEnv != "" && !validEnvName(n.HMACSecretEnv):
			t.errorf("hmac_secret_env", "invalid environment variable name")
		}
		n.Timeout = t.durationIn("timeout", DefaultNotifyTimeout, time.Millisecond, MaxNotifyTimeout)
		n.MaxAttempts = t.intIn("max_attempts", DefaultNotifyAttempts, 1, MaxNotifyAttempts)
		n.BackoffInitial = t.durationIn("backoff_initial", DefaultNotifyBackoff, time.Millisecond, MaxNotifyBackoff)
		n.BackoffMax = t.durationIn("backoff_max", DefaultNotifyBackoffMax, time.Millisecond, MaxNotifyBackoff)
		if n.BackoffMax < n.BackoffInitial {
			t.errorf("backoff_max", "must be at least backoff_initial")
		}
		n.StderrLines = t.intIn("stderr_lines", DefaultStderrLines, 0, MaxStderrLines)
		t.finish()
		out = append(out, n)
	}
	return out
}

// secretFiles lists the files of the configuration that hold secrets, with
// their keys: they should be readable by the daemon's user alone.
func (c *Config) secretFiles() []keyedPath {
	var out []keyedPath
	if n := c.Export.NATS; n != nil {
		for _, kp := range []keyedPath{
			{toml.Key{"export", "nats", "creds"}, n.Creds}, {toml.Key{"export", "nats", "nkey"}, n.NKey},
			{toml.Key{"export", "nats", "password_file"}, n.PasswordFile}, {toml.Key{"export", "nats", "tls_key"}, n.TLSKey},
		} {
			if kp.path != "" {
				out = append(out, kp)
			}
		}
	}
	for i, n := range c.Notify {
		if n.HMACSecretFile != "" {
			out = append(out, keyedPath{toml.Key{"notify", fmt.Sprint(i + 1), "hmac_secret_file"}, n.HMACSecretFile})
		}
	}
	return out
}

type keyedPath struct {
	key  toml.Key
	path string
}

// exportFiles lists every file [export.nats] and [[notify]] name: each
// must exist and be a regular file the daemon can read.
func (c *Config) exportFiles() []keyedPath {
	out := c.secretFiles()
	if n := c.Export.NATS; n != nil {
		for _, kp := range []keyedPath{{toml.Key{"export", "nats", "tls_ca"}, n.TLSCA}, {toml.Key{"export", "nats", "tls_cert"}, n.TLSCert}} {
			if kp.path != "" {
				out = append(out, kp)
			}
		}
	}
	return out
}

// validateExport is Validate's part for [export.nats] and [[notify]]: the
// files they name exist and are regular files.
func (c *Config) validateExport(add func(key toml.Key, fallback int, err error)) {
	for _, kp := range c.exportFiles() {
		fi, err := os.Stat(kp.path)
		switch {
		case err != nil:
			add(kp.key, 0, fmt.Errorf("cannot read the file: %w", errors.Unwrap(err)))
		case !fi.Mode().IsRegular():
			add(kp.key, 0, errors.New("not a regular file"))
		}
	}
}

// Warnings are what tend check prints and the daemon logs about a
// configuration it accepts: secret files others can read, and secrets
// named by environment variables that are not set here.
func (c *Config) Warnings() []string {
	var out []string
	at := func(key toml.Key) string {
		src := c.src.main
		if line := src.lines().find(key); line > 0 {
			return fmt.Sprintf("%s:%d: %s", src.file, line, key)
		}
		return fmt.Sprintf("%s: %s", src.file, key)
	}
	for _, kp := range c.secretFiles() {
		if fi, err := os.Stat(kp.path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			out = append(out, at(kp.key)+": the file holds a secret and others can read it (chmod 600)")
		}
	}
	envs := []keyedPath{}
	if n := c.Export.NATS; n != nil && n.PasswordEnv != "" {
		envs = append(envs, keyedPath{toml.Key{"export", "nats", "password_env"}, n.PasswordEnv})
	}
	for i, n := range c.Notify {
		if n.HMACSecretEnv != "" {
			envs = append(envs, keyedPath{toml.Key{"notify", fmt.Sprint(i + 1), "hmac_secret_env"}, n.HMACSecretEnv})
		}
	}
	for _, kp := range envs {
		if _, ok := os.LookupEnv(kp.path); !ok {
			out = append(out, at(kp.key)+": the variable is not set in this environment (the daemon needs it)")
		}
	}
	return out
}
