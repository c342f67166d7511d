// Package fleet reads the stream many hosts' daemons export their logs to
// (package export) and answers for the whole fleet: every host's workers
// and states, whether each host's chain is whole (gaps, reordering,
// duplicates, tampering, named by the first bad seq), and a host's log
// rebuilt as a local file (Pull) so that history, why, replay and report
// answer on it exactly as they would on that host.
//
// It runs no daemon and keeps no state: each command reads the stream
// anew. It may not write to the stream, and it judges a record only by its
// own bytes (checksum, seq, chain link), never by the message's headers,
// which anyone who can publish to the stream could set.
package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tendhq/tend/cmd/internal/natsio"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/store"
)

// Msg is one message of the stream that claims to be an exported event.
type Msg struct {
	StreamSeq uint64
	Subject   string
	Seq       events.Seq // from the Tend-Seq header; the record's own seq is checked against it
	Data      []byte
	Stored    time.Time // when the server stored it
}

// Log is one host's log as the stream holds it: its messages in stream order.
type Log struct {
	Host string
	ID   string
	Msgs []Msg
	// Foreign counts messages under the host's subjects that are no
	// exported event (no log or seq header); they are named by Verify.
	Foreign []Msg
}

// Last is the time the server stored the log's newest message.
func (l *Log) Last() time.Time {
	if len(l.Msgs) == 0 {
		return time.Time{}
	}
	return l.Msgs[len(l.Msgs)-1].Stored
}

// Source is a stream to read: a connection's JetStream, the stream's name
// and the subject prefix the daemons export under.
type Source struct {
	JS     jetstream.JetStream
	Stream string
	Prefix string
}

// Read returns every log in the stream (host "" ) or of one host, each
// with its messages in stream order, sorted by host and then by the time
// of their newest message (so a host's current log comes last).
func (s Source) Read(ctx context.Context, host string) ([]*Log, error) {
	filter := natsio.AllFilter(s.Prefix)
	if host != "" {
		filter = natsio.HostFilter(s.Prefix, host)
	}
	cons, err := s.JS.OrderedConsumer(ctx, s.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", s.Stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", s.Stream, err)
	}
	byKey := map[[2]string]*Log{}
	var foreign []Msg
	pending := info.NumPending
	for pending > 0 {
		// Ask for no more than is pending: a fetch waits until its batch
		// is full or its wait is over.
		batch, err := cons.Fetch(int(min(pending, 1000)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("read stream %s: %w", s.Stream, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("read stream %s: %w", s.Stream, err)
			}
			pending = md.NumPending
			msg := Msg{StreamSeq: md.Sequence.Stream, Subject: m.Subject(), Data: m.Data(), Stored: md.Timestamp}
			h := m.Headers()
			seq, serr := strconv.ParseUint(h.Get(natsio.HeaderSeq), 10, 64)
			id, hh := h.Get(natsio.HeaderLog), h.Get(natsio.HeaderHost)
			if serr != nil || id == "" || hh == "" || (host != "" && hh != host) {
				foreign = append(foreign, msg)
				continue
			}
			msg.Seq = events.Seq(seq)
			k := [2]string{hh, id}
			l := byKey[k]
			if l == nil {
				l = &Log{Host: hh, ID: id}
				byKey[k] = l
			}
			l.Msgs = append(l.Msgs, msg)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("read stream %s: %w", s.Stream, err)
		}
		if n == 0 {
			break // nothing came within the wait: the rest was removed meanwhile
		}
	}
	out := make([]*Log, 0, len(byKey))
	for _, l := range byKey {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		return out[i].Last().Before(out[j].Last())
	})
	if len(foreign) > 0 {
		// Messages no daemon of this tend published: attach them to the
		// host they were filed under, when there is one, so Verify names them.
		if len(out) > 0 && host != "" {
			out[len(out)-1].Foreign = foreign
		} else if len(out) == 0 && host != "" {
			out = append(out, &Log{Host: host, Foreign: foreign})
		}
	}
	return out, nil
}

// Report is what Verify found in one host's log in the stream.
type Report struct {
	Host       string     `json:"host"`
	Log        string     `json:"log"`
	Messages   int        `json:"messages"`
	Events     uint64     `json:"events"` // distinct seqs whose record is whole
	First      events.Seq `json:"first"`
	Last       events.Seq `json:"last"`
	Duplicates int        `json:"duplicates"` // identical copies that slipped past de-duplication
	Reordered  int        `json:"reordered"`  // messages stored after a later seq of the same log
	FirstBad   events.Seq `json:"first_bad"`  // 0 when the chain is whole
	Problem    string     `json:"problem,omitempty"`
	OK         bool       `json:"ok"`
}

// Verify checks a log as `tend verify` checks a file: every record's
// version and checksum, that it decodes and holds the seq its message
// claims, that seqs run from 1 with no gap, that each record links to the
// one before it; and what only a stream can get wrong: a seq stored twice
// (identical: a duplicate that slipped past de-duplication; different: a
// forgery) and seqs stored out of order. FirstBad is the first seq the
// chain cannot vouch for.
func Verify(l *Log) *Report {
	r := &Report{Host: l.Host, Log: l.ID, Messages: len(l.Msgs)}
	bad := func(seq events.Seq, format string, args ...any) {
		if r.FirstBad == 0 || seq < r.FirstBad {
			r.FirstBad, r.Problem = seq, fmt.Sprintf(format, args...)
		}
	}
	recs := map[events.Seq][]byte{}
	var maxSeen events.Seq
	for _, m := range l.Msgs {
		if err := events.Check(m.Data); err != nil {
			bad(m.Seq, "stream message %d: record: %v (tampered or damaged)", m.StreamSeq, err)
			continue
		}
		if own := events.RecordSeq(m.Data); own != m.Seq {
			bad(min(own, m.Seq), "stream message %d claims seq %d but holds the record of seq %d", m.StreamSeq, m.Seq, own)
			continue
		}
		if prev, ok := recs[m.Seq]; ok {
			if bytes.Equal(prev, m.Data) {
				r.Duplicates++
				bad(m.Seq, "seq %d is stored twice (stream message %d repeats it): a duplicate slipped past de-duplication", m.Seq, m.StreamSeq)
			} else {
				bad(m.Seq, "seq %d is stored twice with different records (stream message %d): one of them is forged", m.Seq, m.StreamSeq)
			}
			continue
		}
		if m.Seq < maxSeen {
			r.Reordered++
			bad(m.Seq, "seq %d was stored after seq %d (stream message %d): reordered", m.Seq, maxSeen, m.StreamSeq)
		}
		maxSeen = max(maxSeen, m.Seq)
		recs[m.Seq] = m.Data
	}
	for _, m := range l.Foreign {
		bad(1, "stream message %d on %s is not an exported event of this tend (no log or seq header)", m.StreamSeq, m.Subject)
	}
	seqs := make([]events.Seq, 0, len(recs))
	for s := range recs {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	var (
		d    events.Decoder
		e    events.Event
		prev [32]byte
	)
	want := events.Seq(1)
	for _, s := range seqs {
		rec := recs[s]
		switch {
		case s != want:
			bad(want, "seq %d is missing (the stream holds seq %d next)", want, s)
		default:
			if err := d.Decode(rec, &e); err != nil {
				bad(s, "record: %v", err)
			} else if e.Prev != prev {
				bad(s, "prev hash does not match the record of seq %d (altered, removed or reordered)", s-1)
			} else {
				r.Events++
			}
		}
		prev = events.Hash(rec)
		want = s + 1
	}
	if len(seqs) > 0 {
		r.First, r.Last = seqs[0], seqs[len(seqs)-1]
	}
	r.OK = r.Problem == ""
	return r
}

// ChainError is a host's log in the stream that cannot be rebuilt: its
// first record that is not the next link.
type ChainError struct {
	Host, Log string
	Seq       events.Seq
	Problem   string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("the stream's log %s of host %s is not whole at seq %d: %s (tend fleet verify --host %s names every problem)", e.Log, e.Host, e.Seq, e.Problem, e.Host)
}

// Pull rebuilds a log from the stream as a new file at dst, through
// store.Import: every record checked (checksum, seq, link) before it is
// written, byte for byte. Duplicates are dropped and reordered messages
// put back in seq order, since both change nothing of the chain; a gap or
// a bad record stops it with a *ChainError.
func Pull(l *Log, dst string) error {
	sorted := slices.Clone(l.Msgs)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	im, err := store.NewImport(dst)
	if err != nil {
		return err
	}
	var last []byte
	for _, m := range sorted {
		if last != nil && m.Seq == im.Next()-1 && bytes.Equal(m.Data, last) {
			continue
		}
		if err := im.Add(m.Data); err != nil {
			im.Close()
			var ce *store.ChainError
			if errors.As(err, &ce) {
				return &ChainError{Host: l.Host, Log: l.ID, Seq: ce.Seq, Problem: ce.Problem}
			}
			return err
		}
		last = m.Data
	}
	return im.Close()
}

// PullToTemp pulls l into a new file in a private temporary directory and
// returns its path and what removes it.
func PullToTemp(l *Log) (string, func(), error) {
	dir, err := os.MkdirTemp("", "tend-fleet-")
	if err != nil {
		return "", func() {}, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	path := filepath.Join(dir, "tend.db")
	if err := Pull(l, path); err != nil {
		cleanup()
		return "", func() {}, err
	}
	return path, cleanup, nil
}

// Pick chooses a host's log: the one with that id (a prefix will do), or
// the host's current one (its newest message is the latest).
func Pick(logs []*Log, host, id string) (*Log, error) {
	var found []*Log
	for _, l := range logs {
		if l.Host == host && l.ID != "" && (id == "" || len(id) <= len(l.ID) && l.ID[:len(id)] == id) {
			found = append(found, l)
		}
	}
	switch {
	case len(found) == 0 && id != "":
		return nil, fmt.Errorf("the stream holds no log %s of host %s", id, host)
	case len(found) == 0:
		return nil, fmt.Errorf("the stream holds no events of host %s", host)
	case id != "" && len(found) > 1:
		return nil, fmt.Errorf("log id %s of host %s is ambiguous; give more of it", id, host)
	}
	return found[len(found)-1], nil
}

// HostState is one host's line of tend fleet status.
type HostState struct {
	Host      string            `json:"host"`
	Log       string            `json:"log"`
	OlderLogs []string          `json:"older_logs,omitempty"` // the host's earlier logs in the stream (a recovered or replaced log)
	Seq       events.Seq        `json:"seq"`                  // the newest seq the stream holds of the log
	LastEvent time.Time         `json:"last_event"`           // its time on the host
	Heartbeat *natsio.Heartbeat `json:"heartbeat,omitempty"`  // the exporter's own word on its lag
	Flags     []string          `json:"flags,omitempty"`      // "lagging", "silent", "no heartbeat", "damaged"
	Problem   string            `json:"problem,omitempty"`
	Workers   []fsm.Worker      `json:"-"`
}

// StatusOptions say when a host is flagged.
type StatusOptions struct {
	Lag    time.Duration // flag a host whose oldest unacknowledged event is older than this
	Silent time.Duration // flag a host whose heartbeat is older than this (default: 3 heartbeats)
	Now    time.Time
}

// Status folds each host's current log, as far as its chain is whole, into
// the workers' states (the fold the host's own daemon does), and flags
// hosts whose exporter reports a lag, whose heartbeat went quiet, or whose
// log in the stream is damaged.
func Status(logs []*Log, beats map[string]natsio.Heartbeat, o StatusOptions) []HostState {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	byHost := map[string][]*Log{}
	var hosts []string
	for _, l := range logs {
		if l.ID == "" {
			continue
		}
		if byHost[l.Host] == nil {
			hosts = append(hosts, l.Host)
		}
		byHost[l.Host] = append(byHost[l.Host], l)
	}
	sort.Strings(hosts)
	var out []HostState
	for _, h := range hosts {
		ls := byHost[h]
		cur := ls[len(ls)-1]
		hs := HostState{Host: h, Log: cur.ID}
		for _, l := range ls[:len(ls)-1] {
			hs.OlderLogs = append(hs.OlderLogs, l.ID)
		}
		rep := Verify(cur)
		w, last, err := fold(cur)
		if err != nil && rep.OK {
			rep.OK, rep.FirstBad, rep.Problem = false, w.Seq+1, err.Error()
		}
		if !rep.OK {
			hs.Flags = append(hs.Flags, "damaged")
			hs.Problem = fmt.Sprintf("first bad seq %d: %s", rep.FirstBad, rep.Problem)
		}
		if w != nil {
			hs.Seq, hs.LastEvent = w.Seq, last
			for _, n := range w.Names(false) {
				hs.Workers = append(hs.Workers, *w.Workers[n])
			}
		}
		if hb, ok := beats[natsio.HeartbeatKey(h, cur.ID)]; ok {
			hb := hb
			hs.Heartbeat = &hb
			silent := o.Silent
			if silent <= 0 {
				every, err := time.ParseDuration(hb.Every)
				if err != nil || every <= 0 {
					every = 5 * time.Second
				}
				silent = 3 * every
			}
			if o.Now.Sub(hb.Time) > silent {
				hs.Flags = append(hs.Flags, "silent")
			}
			if hb.LagEvents > 0 && time.Duration(hb.LagSeconds*float64(time.Second)) > o.Lag {
				hs.Flags = append(hs.Flags, "lagging")
			}
		} else {
			hs.Flags = append(hs.Flags, "no heartbeat")
		}
		out = append(out, hs)
	}
	return out
}

// fold replays a log's whole prefix: the world after its last seq that
// follows on unbroken from seq 1.
func fold(l *Log) (*fsm.World, time.Time, error) {
	recs := map[events.Seq][]byte{}
	for _, m := range l.Msgs {
		if events.Check(m.Data) == nil && events.RecordSeq(m.Data) == m.Seq {
			if _, ok := recs[m.Seq]; !ok {
				recs[m.Seq] = m.Data
			}
		}
	}
	w := fsm.NewWorld()
	var (
		d    events.Decoder
		e    events.Event
		prev [32]byte
		last time.Time
	)
	for s := events.Seq(1); ; s++ {
		rec, ok := recs[s]
		if !ok {
			return w, last, nil
		}
		if d.Decode(rec, &e) != nil || e.Prev != prev {
			return w, last, nil
		}
		if err := w.Apply(&e); err != nil {
			return w, last, fmt.Errorf("it does not fold: %v", err)
		}
		prev, last = events.Hash(rec), e.Time
	}
}

// Heartbeats reads every exporter's heartbeat from the bucket beside the
// stream; none when the bucket does not exist.
func Heartbeats(ctx context.Context, js jetstream.JetStream, stream string) (map[string]natsio.Heartbeat, error) {
	out := map[string]natsio.Heartbeat{}
	kv, err := natsio.Hosts(ctx, js, stream, false)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var hb natsio.Heartbeat
		if json.Unmarshal(e.Value(), &hb) == nil {
			out[k] = hb
		}
	}
	return out, nil
}
