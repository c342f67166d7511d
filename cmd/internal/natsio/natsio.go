// Package natsio is what the exporter and the fleet commands agree on
// about a NATS JetStream stream of tend logs: how to connect (with the
// credentials [export.nats] names), the subject and headers of every
// exported event, the stream's shape, and the heartbeat each exporter
// keeps in a key-value bucket beside it.
//
// Subjects are PREFIX.<host>.<worker>.<type>: the host and worker as
// tokens (Token: bytes a subject or a key-value key cannot hold are written
// =XX, and "_" stands for a daemon-level event), the type by its name. A
// message's payload is the event's record as the log stores it (package
// events' format), so its checksum and chain verify off the host; its
// headers name the log, the host and the seq, and Nats-Msg-Id is
// "<log id>:<seq>" so the server drops a message published twice.
//
// It may not read or write a log, and it never logs: it returns errors,
// which never carry a secret (passwords come from files or variables and
// are never part of an error).
package natsio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tendhq/tend/events"
)

// Headers of every exported message.
const (
	HeaderLog  = "Tend-Log"  // the log's id (store.Log.LogID)
	HeaderHost = "Tend-Host" // the host's name as configured, unescaped
	HeaderSeq  = "Tend-Seq"  // the event's seq, decimal
)

// daemonToken stands for the worker of a daemon-level event.
const daemonToken = "_"

// Token writes s as one subject token that is also a valid key-value key:
// bytes other than A-Z a-z 0-9 _ - are written =XX (hex), and a name that
// is exactly "_" is written =5F, so it cannot be taken for a daemon-level
// event.
func Token(s string) string {
	if s == daemonToken {
		return "=5F"
	}
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// WorkerToken is the worker's token, "_" for a daemon-level event.
func WorkerToken(worker string) string {
	if worker == "" {
		return daemonToken
	}
	return Token(worker)
}

// Subject is the subject an event of host is published on.
func Subject(prefix, host, worker string, typ events.Type) string {
	return prefix + "." + Token(host) + "." + WorkerToken(worker) + "." + typ.String()
}

// HostFilter matches every event of host; AllFilter every event of every host.
func HostFilter(prefix, host string) string { return prefix + "." + Token(host) + ".>" }

// AllFilter matches every exported event under prefix.
func AllFilter(prefix string) string { return prefix + ".>" }

// MsgID is the de-duplication id of an event.
func MsgID(logID string, seq events.Seq) string {
	return logID + ":" + strconv.FormatUint(uint64(seq), 10)
}

// Options say how to reach and authenticate to the server.
type Options struct {
	URL          string
	Name         string // the connection's name, shown by the server
	Creds        string
	NKey         string
	User         string
	PasswordFile string
	PasswordEnv  string
	TLSCA        string
	TLSCert      string
	TLSKey       string
}

// ErrNoPassword: the password's file or variable gives nothing.
var ErrNoPassword = errors.New("natsio: no password")

// NATSOptions turns o into the client library's options.
func (o Options) NATSOptions() ([]nats.Option, error) {
	var opts []nats.Option
	if o.Name != "" {
		opts = append(opts, nats.Name(o.Name))
	}
	switch {
	case o.Creds != "":
		opts = append(opts, nats.UserCredentials(o.Creds))
	case o.NKey != "":
		opt, err := nats.NkeyOptionFromSeed(o.NKey)
		if err != nil {
			return nil, fmt.Errorf("nkey %s: cannot read a seed from it", o.NKey)
		}
		opts = append(opts, opt)
	case o.User != "":
		var pw string
		switch {
		case o.PasswordFile != "":
			b, err := os.ReadFile(o.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("password_file: %w", errors.Unwrap(err))
			}
			pw = strings.TrimRight(string(b), "\r\n")
		case o.PasswordEnv != "":
			pw = os.Getenv(o.PasswordEnv)
		}
		if pw == "" {
			return nil, fmt.Errorf("%w for user %s (password_file or password_env)", ErrNoPassword, o.User)
		}
		opts = append(opts, nats.UserInfo(o.User, pw))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	return opts, nil
}

// Connect connects to o.URL with o's credentials and extra options.
func Connect(o Options, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := o.NATSOptions()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(o.URL, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	return nc, nil
}

// StreamSpec is the stream the daemon creates when it is missing.
type StreamSpec struct {
	Name            string
	Prefix          string
	DuplicateWindow time.Duration
	Replicas        int
	MaxAge          time.Duration
}

// ErrStreamSubjects: the stream exists but does not take the prefix's
// subjects.
var ErrStreamSubjects = errors.New("natsio: the stream does not take tend's subjects")

// EnsureStream returns the stream, creating it when it is missing: subjects
// PREFIX.>, file storage, and a de-duplication window. When it cannot be
// created the error says what to ask for.
func EnsureStream(ctx context.Context, js jetstream.JetStream, s StreamSpec) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, s.Name)
	if err == nil {
		info := st.CachedInfo()
		for _, subj := range info.Config.Subjects {
			if subj == AllFilter(s.Prefix) || subj == ">" {
				return st, nil
			}
		}
		return nil, fmt.Errorf("%w: stream %s has subjects %v, not %s", ErrStreamSubjects, s.Name, info.Config.Subjects, AllFilter(s.Prefix))
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("look up stream %s: %w", s.Name, err)
	}
	st, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:        s.Name,
		Description: "tend event logs, one chain per host and log",
		Subjects:    []string{AllFilter(s.Prefix)},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Duplicates:  s.DuplicateWindow,
		Replicas:    s.Replicas,
		MaxAge:      s.MaxAge,
		AllowDirect: true,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s is missing and could not be created (%w); the credentials may not allow it: "+
			"have it created with subjects %s, file storage and a duplicate window of at least a minute", s.Name, err, AllFilter(s.Prefix))
	}
	return st, nil
}

// HostsBucket is the key-value bucket beside a stream where each exporter
// keeps its heartbeat.
func HostsBucket(stream string) string { return stream + "_hosts" }

// HeartbeatKey is the key of one log's heartbeat.
func HeartbeatKey(host, logID string) string { return Token(host) + "." + logID }

// Heartbeat is what an exporter says of itself every few seconds.
type Heartbeat struct {
	Host       string     `json:"host"`
	Log        string     `json:"log"`
	Acked      events.Seq `json:"acked"`       // the last seq the server acknowledged
	Last       events.Seq `json:"last"`        // the last seq of the log
	LagEvents  uint64     `json:"lag_events"`  // Last - Acked
	LagSeconds float64    `json:"lag_seconds"` // age of the oldest event not yet acknowledged
	Time       time.Time  `json:"time"`        // when this was written
	Every      string     `json:"every"`       // how often it is written (a Go duration)
}

// Marshal encodes h.
func (h Heartbeat) Marshal() []byte {
	b, _ := json.Marshal(h)
	return b
}

// Hosts opens (creating when allowed) the heartbeat bucket of a stream.
func Hosts(ctx context.Context, js jetstream.JetStream, stream string, create bool) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, HostsBucket(stream))
	if err == nil || !create || !errors.Is(err, jetstream.ErrBucketNotFound) {
		return kv, err
	}
	return js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: HostsBucket(stream), History: 1,
		Description: "tend exporters' heartbeats", Storage: jetstream.FileStorage})
}
