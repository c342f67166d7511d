package store

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// DigestPrefix starts every digest Digest returns, so a reader of the log
// can tell a keyed digest from the plain SHA-256 an older tend recorded.
const DigestPrefix = "hmac-sha256:"

// Digest returns a keyed digest of data: HMAC-SHA256 under this log's own
// random key, in hex after DigestPrefix. The same data gives the same digest
// for as long as the log lives, so digests recorded in the log can be
// compared with one another ("did the settings change?"); but the key stays
// in the meta bucket and never enters an event, so a reader who has the
// events and not the file cannot test a guess of what was digested (a
// secret in a worker's environment, say) the way an unkeyed hash would let
// them.
//
// A Log opened ReadOnly does not load the key: it returns "".
func (l *Log) Digest(data []byte) string {
	if l.digestKey == nil {
		return ""
	}
	m := hmac.New(sha256.New, l.digestKey)
	m.Write(data)
	return DigestPrefix + hex.EncodeToString(m.Sum(nil))
}

func newDigestKey() ([]byte, error) {
	key := make([]byte, digestKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("digest key: %w", err)
	}
	return key, nil
}

// loadDigestKey reads the log's digest key into a writable Log, first
// making one if the log has none: a log created by a tend older than the
// key gets it on its first writable open (the digests it recorded before
// stay as they were).
func (l *Log) loadDigestKey() error {
	return guard(l.path, func() error {
		var key []byte
		if err := l.db.View(func(tx *bolt.Tx) error {
			key = append(key, tx.Bucket(bucketMeta).Get(keyDigest)...)
			return nil
		}); err != nil {
			return err
		}
		switch {
		case len(key) == digestKeyLen:
			l.digestKey = key
			return nil
		case len(key) != 0:
			return fmt.Errorf("%w: %s: meta digest key is %d bytes, not %d", ErrCorrupt, l.path, len(key), digestKeyLen)
		}
		key, err := newDigestKey()
		if err != nil {
			return err
		}
		if err := l.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyDigest, key) }); err != nil {
			return fmt.Errorf("store: %s: add a digest key: %w", l.path, err)
		}
		l.digestKey = key
		return nil
	})
}

// adoptDigestKey replaces a new, empty Log's key with key, so a log that
// Recover copies keeps the digests of the log it came from.
func (l *Log) adoptDigestKey(key []byte) error {
	if len(key) != digestKeyLen {
		return nil
	}
	key = append([]byte(nil), key...)
	if err := guard(l.path, func() error {
		return l.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyDigest, key) })
	}); err != nil {
		return err
	}
	l.digestKey = key
	return nil
}
