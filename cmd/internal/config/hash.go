package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// workerHash fingerprints the effective settings, not the text: key order,
// comments, spelling of defaults and the worker's line number must not make
// an unchanged worker look changed and get restarted on reload. JSON is a
// fine canonical form here because encoding/json sorts map keys.
func workerHash(w *Worker) string {
	c := *w
	c.Line = 0
	c.Hash = ""
	b, err := json.Marshal(&c)
	if err != nil {
		// Unreachable for the types above; fall back to a value that never
		// compares equal to a real hash rather than panicking.
		return "unhashable: " + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func fileHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
