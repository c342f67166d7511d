package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/events"
)

// rawKey reads the digest key straight from a closed file.
func rawKey(t *testing.T, path string) []byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var key []byte
	db.View(func(tx *bolt.Tx) error {
		key = bytes.Clone(tx.Bucket(bucketMeta).Get(keyDigest))
		return nil
	})
	return key
}

func TestDigestIsKeyedPerLog(t *testing.T) {
	secret := []byte("settings with SECRET=hunter2")
	path, l := fillLog(t, 10, 2)
	d := l.Digest(secret)
	if !strings.HasPrefix(d, DigestPrefix) || len(d) != len(DigestPrefix)+64 {
		t.Fatalf("Digest = %q", d)
	}
	plain := sha256.Sum256(secret)
	if strings.Contains(d, hex.EncodeToString(plain[:])) {
		t.Fatal("the digest is the plain SHA-256")
	}
	if l.Digest(secret) != d || l.Digest([]byte("other")) == d {
		t.Fatal("Digest is not a function of its input")
	}
	l.Close()

	key := rawKey(t, path)
	if len(key) != 32 || bytes.Equal(key, make([]byte, 32)) {
		t.Fatalf("digest key %x", key)
	}
	m := hmac.New(sha256.New, key)
	m.Write(secret)
	if want := DigestPrefix + hex.EncodeToString(m.Sum(nil)); d != want {
		t.Fatalf("Digest = %s, want HMAC-SHA256 under the meta key %s", d, want)
	}
	// The same log, opened again, gives the same digest; no record holds the key.
	l = openT(t, path, Options{})
	if got := l.Digest(secret); got != d {
		t.Fatalf("after reopening: %s, want %s", got, d)
	}
	if err := l.Scan(1, 0, func(e *events.Event) error {
		if bytes.Contains(events.Encode(nil, e), key) {
			t.Fatalf("seq %d holds the digest key", e.Seq)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// A read-only reader has no key and needs none.
	ro := openT(t, path, Options{ReadOnly: true})
	if got := ro.Digest(secret); got != "" {
		t.Fatalf("read-only Digest = %q, want none", got)
	}
	// Another log has another key.
	_, other := fillLog(t, 1, 1)
	if other.Digest(secret) == d {
		t.Fatal("two logs, same digest: the key is not per log")
	}
}

// A log an older tend created has no key: reading it adds none, the first
// writable open adds one, and the log reads and verifies exactly as before.
func TestOldLogGetsDigestKeyOnWritableOpen(t *testing.T) {
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "v1.tend")
	if err := os.WriteFile(cp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if k := rawKey(t, cp); k != nil {
		t.Fatalf("the v1 fixture already has a digest key %x", k)
	}
	ro := openT(t, cp, Options{ReadOnly: true})
	var before []events.Event
	if err := ro.Scan(1, 0, func(e *events.Event) error { before = append(before, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	ro.Close()
	if now, _ := os.ReadFile(cp); !bytes.Equal(now, data) {
		t.Fatal("a read-only open changed the file")
	}

	l := openT(t, cp, Options{})
	d := l.Digest([]byte("x"))
	if d == "" {
		t.Fatal("no digest key after a writable open")
	}
	mustVerify(t, l)
	var after []events.Event
	if err := l.Scan(1, 0, func(e *events.Event) error { after = append(after, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("%d events, was %d", len(after), len(before))
	}
	for i := range after {
		if !bytes.Equal(events.Encode(nil, &after[i]), events.Encode(nil, &before[i])) {
			t.Fatalf("seq %d reads differently after the key was added", i+1)
		}
	}
	l.Close()
	l = openT(t, cp, Options{})
	if l.Digest([]byte("x")) != d {
		t.Fatal("the key added to an old log did not last")
	}
}

func TestRecoverKeepsDigestKey(t *testing.T) {
	path, l := fillLog(t, 20, 2)
	d := l.Digest([]byte("x"))
	l.Close()
	dst := filepath.Join(t.TempDir(), "recovered.tend")
	if _, err := Recover(path, dst, nil); err != nil {
		t.Fatal(err)
	}
	r := openT(t, dst, Options{})
	if got := r.Digest([]byte("x")); got != d {
		t.Fatalf("recovered log digests %s, the source %s", got, d)
	}
}

func TestMalformedDigestKeyRefused(t *testing.T) {
	path, l := fillLog(t, 3, 1)
	l.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyDigest, []byte("short")) })
	if _, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "digest key") {
		t.Fatalf("writable open with a 5-byte key: %v, want ErrCorrupt", err)
	}
	openT(t, path, Options{ReadOnly: true}) // a reader does not care
}
