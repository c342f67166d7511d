package store

import (
	"os"
	"path/filepath"
	"testing"
)

// A log cut short loses its B-tree's upper pages, which bbolt needs to
// find anything; the records on the pages that remain are still whole, and
// Recover must copy the chain-valid prefix of them.
func TestRecoverTruncatedLogSalvagesPages(t *testing.T) {
	path, l := fillLog(t, 3000, 7)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := len(data) * 6 / 10
	cut -= cut % 4096
	if err := os.WriteFile(path, data[:cut], 0o600); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "recovered.tend")
	rep, err := Recover(path, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Copied == 0 || rep.Copied >= 3000 || rep.FirstBad != rep.LastSeq+1 {
		t.Fatalf("recover of a log cut to %d of %d bytes: %+v", cut, len(data), rep)
	}
	out := openT(t, dst, Options{ReadOnly: true})
	if r := mustVerify(t, out); r.Events != rep.Copied {
		t.Fatalf("copy holds %d events, report says %d", r.Events, rep.Copied)
	}
	t.Logf("cut to %d of %d bytes: copied %d of 3000 events", cut, len(data), rep.Copied)
}
