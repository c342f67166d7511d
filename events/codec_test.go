package events

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sample() Event {
	return Event{
		Seq: 42, Time: time.Date(2026, 3, 14, 3, 14, 7, 123456789, time.UTC),
		Worker: "web", Incarnation: 7, Type: Exited, From: Running, To: Stopped,
		Actor: ActorProcess, Cause: "process exited with status 3",
		Prev: [32]byte{1, 2, 3},
		Details: Details{
			PID: 4242, ExitCode: IntPtr(-3), Signal: 9, Errno: 2, Resource: "memory",
			Measured: 612 << 20, Limit: 512 << 20, Delay: 1500 * time.Millisecond, Attempt: 3,
			Policy: "kill", Hash: "abc123", StartTicks: 99887766, BootID: "b-o-o-t",
			EnvNames: []string{"PATH", "SECRET_TOKEN"}, Command: []string{"/bin/sleep", "10"},
		},
	}
}

func TestRoundTripEveryField(t *testing.T) {
	e := sample()
	rec := Encode(nil, &e)
	var got Event
	if err := Decode(rec, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e, got) {
		t.Fatalf("round trip:\nwant %+v\ngot  %+v", e, got)
	}
}

// The details format 2 added round-trip too.
func TestRoundTripFormat2Details(t *testing.T) {
	e := sample()
	e.Type = HookExited
	e.Text, e.Planned, e.Ref = "last words", time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC), 41
	var got Event
	if err := Decode(Encode(nil, &e), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e, got) {
		t.Fatalf("round trip:\nwant %+v\ngot  %+v", e, got)
	}
	if j := got.ToJSON(); j.Ref != 41 || j.Text != "last words" {
		t.Fatalf("JSON: %+v", j)
	}
}

func TestRoundTripEveryType(t *testing.T) {
	var d Decoder
	for _, typ := range Types() {
		for _, stale := range []bool{false, true} {
			e := Event{Seq: 1, Time: time.Unix(0, 5).UTC(), Type: typ, Stale: stale}
			var got Event
			if err := d.Decode(Encode(nil, &e), &got); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			if !reflect.DeepEqual(e, got) {
				t.Fatalf("%s: got %+v", typ, got)
			}
		}
	}
}

func TestZeroExitCodeIsKept(t *testing.T) {
	e := Event{Seq: 1, Time: time.Unix(1, 0).UTC(), Type: Exited, Details: Details{ExitCode: IntPtr(0)}}
	var got Event
	if err := Decode(Encode(nil, &e), &got); err != nil {
		t.Fatal(err)
	}
	if got.ExitCode == nil || *got.ExitCode != 0 {
		t.Fatalf("exit code 0 lost: %v", got.ExitCode)
	}
}

// Every flipped bit, and every other value of every byte, is damage:
// ErrChecksum, never "newer version" (the version byte included: a flipped
// version byte once read as a record written by a newer tend).
func TestEveryDamagedByteIsChecksumError(t *testing.T) {
	e := sample()
	rec := Encode(nil, &e)
	check := func(bad []byte, what string) {
		t.Helper()
		var got Event
		err := Decode(bad, &got)
		if !errors.Is(err, ErrChecksum) || errors.Is(err, ErrNewerVersion) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: %v, want ErrChecksum only", what, err)
		}
		if err := Check(bad); !errors.Is(err, ErrChecksum) {
			t.Fatalf("%s: Check: %v, want ErrChecksum", what, err)
		}
	}
	for i := range rec {
		for bit := 0; bit < 8; bit++ {
			bad := bytes.Clone(rec)
			bad[i] ^= 1 << bit
			check(bad, fmt.Sprintf("flip byte %d bit %d", i, bit))
		}
		for b := 0; b < 256; b++ {
			if byte(b) == rec[i] {
				continue
			}
			bad := bytes.Clone(rec)
			bad[i] = byte(b)
			check(bad, fmt.Sprintf("byte %d = %#x", i, b))
		}
	}
}

// newerRecord is rec rewritten as a record of version v, checksummed the way
// the package doc says every version after 1 is.
func newerRecord(rec []byte, v byte) []byte {
	out := bytes.Clone(rec)
	out[offVersion] = v
	binary.BigEndian.PutUint32(out[offCRC:], crcWithVersion(out))
	return out
}

func TestNewerVersionRefused(t *testing.T) {
	e := sample()
	rec := newerRecord(Encode(nil, &e), Version+1)
	var got Event
	err := Decode(rec, &got)
	if !errors.Is(err, ErrNewerVersion) {
		t.Fatalf("got %v, want ErrNewerVersion", err)
	}
	if !strings.Contains(err.Error(), "newer version") {
		t.Fatalf("message does not say why: %v", err)
	}
	for _, v := range []byte{Version + 1, 200, 255} {
		if err := Check(newerRecord(rec, v)); !errors.Is(err, ErrNewerVersion) {
			t.Fatalf("version %d: %v, want ErrNewerVersion", v, err)
		}
	}
	// A damaged newer record is damaged, not newer.
	for i := range rec {
		bad := bytes.Clone(rec)
		bad[i] ^= 0x10
		if err := Check(bad); !errors.Is(err, ErrChecksum) || errors.Is(err, ErrNewerVersion) {
			t.Fatalf("newer record, byte %d flipped: %v, want ErrChecksum", i, err)
		}
	}
}

func TestTruncatedRecord(t *testing.T) {
	e := sample()
	rec := Encode(nil, &e)
	for n := 0; n < len(rec); n++ {
		var got Event
		if err := Decode(rec[:n], &got); err == nil {
			t.Fatalf("truncated to %d bytes: decoded", n)
		}
	}
}

// A record of format version 1, written by the first version of this code.
// It must decode, field for field, forever.
const v1RecordHex = "01ec5bc429000000000000002a189c96b29ada031501020300000000000000000000000000000000000000000000000000000000000703010007037765620770726f636573731c70726f6365737320657869746564207769746820737461747573203301922102050309040205066d656d6f72790641c32000000000000741c00000000000000880dea0cb0509030a046b696c6c0b066162633132330c96d5d02f0d07622d6f2d6f2d740e0204504154480c5345435245545f544f4b454e0f020a2f62696e2f736c656570023130"

func TestFirstVersionRecordStillReads(t *testing.T) {
	rec, err := hex.DecodeString(v1RecordHex)
	if err != nil {
		t.Fatal(err)
	}
	var got Event
	if err := Decode(rec, &got); err != nil {
		t.Fatalf("v1 record no longer decodes: %v", err)
	}
	want := sample()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("v1 record decodes differently:\nwant %+v\ngot  %+v", want, got)
	}
}

func TestHashChainsOverWholeRecord(t *testing.T) {
	e := sample()
	a := Encode(nil, &e)
	e.Cause += "!"
	b := Encode(nil, &e)
	if Hash(a) == Hash(b) {
		t.Fatal("different records, same hash")
	}
	if RecordSeq(a) != 42 || RecordPrev(a) != e.Prev {
		t.Fatal("header accessors")
	}
}

func TestJSONFieldNames(t *testing.T) {
	e := sample()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"seq", "time", "worker", "incarnation", "type", "from", "to", "pid", "exit_code", "signal", "actor", "cause"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if m["type"] != "exited" || m["from"] != "Running" || m["signal"] != "KILL" || m["time"] != "2026-03-14T03:14:07.123456789Z" {
		t.Errorf("JSON values: %s", b)
	}
}

func TestNamesRoundTrip(t *testing.T) {
	for _, typ := range Types() {
		if got, err := ParseType(typ.String()); err != nil || got != typ {
			t.Errorf("type %v: %v %v", typ, got, err)
		}
	}
	for _, s := range States() {
		if got, err := ParseState(s.String()); err != nil || got != s {
			t.Errorf("state %v: %v %v", s, got, err)
		}
	}
	if _, err := ParseType("nope"); err == nil {
		t.Error("unknown type parsed")
	}
}

func FuzzDecode(f *testing.F) {
	e := sample()
	f.Add(Encode(nil, &e))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, rec []byte) {
		var got Event
		if err := Decode(rec, &got); err != nil {
			return
		}
		// Whatever decodes must encode back to the same bytes.
		if again := Encode(nil, &got); hex.EncodeToString(again) != hex.EncodeToString(rec) {
			t.Fatalf("decode/encode not stable")
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	e := sample()
	e.Details = Details{PID: 4242, ExitCode: IntPtr(1)}
	rec := Encode(nil, &e)
	var d Decoder
	var got Event
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if err := d.Decode(rec, &got); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRoundTripScaled(t *testing.T) {
	for _, d := range []Details{{Instances: 6, FileInstances: 4}, {Instances: 0, FileInstances: 4}, {}} {
		e := Event{Seq: 3, Time: time.Unix(0, 9).UTC(), Worker: "web", Type: Scaled, Actor: "cli uid=0", Cause: "scaled", Details: d}
		var got Event
		if err := Decode(Encode(nil, &e), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(e, got) {
			t.Fatalf("got %+v, want %+v", got, e)
		}
		j := got.ToJSON()
		if j.Instances == nil || *j.Instances != d.Instances || j.FileInstances == nil || *j.FileInstances != d.FileInstances {
			t.Errorf("JSON: %+v", j)
		}
	}
	if j := (&Event{Type: Exited}).ToJSON(); j.Instances != nil {
		t.Error("instances written for another type")
	}
}

func TestInstanceNames(t *testing.T) {
	if n := InstanceName("web", 12); n != "web@12" {
		t.Errorf("name %s", n)
	}
	for name, want := range map[string]struct {
		g  string
		i  int
		ok bool
	}{
		"web@12": {"web", 12, true}, "a@b@3": {"a@b", 3, true}, "web": {}, "@3": {}, "web@0": {}, "web@03": {}, "web@x": {}, "web@": {},
	} {
		g, i, ok := SplitInstance(name)
		if g != want.g || i != want.i || ok != want.ok {
			t.Errorf("SplitInstance(%q) = %q %d %v", name, g, i, ok)
		}
	}
}

// The details of format 2 round-trip too, the relay's identity among them.
func TestRoundTripRelayDetails(t *testing.T) {
	e := sample()
	e.Type, e.From, e.To = Spawned, Starting, Starting
	e.Text, e.Planned = "status", time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	e.RelayPID, e.RelayStartTicks = 4241, 99887700
	var got Event
	if err := Decode(Encode(nil, &e), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e, got) {
		t.Fatalf("round trip:\nwant %+v\ngot  %+v", e, got)
	}
	if j := e.ToJSON(); j.RelayPID != 4241 || j.RelayTicks != 99887700 {
		t.Errorf("JSON %+v", j)
	}
}
