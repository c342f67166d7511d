package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConvert feeds arbitrary files through the whole conversion: it must
// never panic, and whatever it accepts must load in tend (Convert checks
// that itself and says so in its error).
func FuzzConvert(f *testing.F) {
	for _, p := range []string{"testdata/full.conf", "testdata/debian-sample-uncommented.conf", "testdata/broken.conf"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("[program:x]\ncommand=%(ENV_HOME)s \"a\\\nenvironment=A=\"1\",B=2\nnumprocs=3\nprocess_name=%(process_num)s\n"))
	// One directory for every input: a fresh t.TempDir per input costs
	// more than the conversion itself.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "s.conf")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := Convert(p)
		if err != nil && strings.Contains(err.Error(), "does not load in tend") {
			t.Fatal(err)
		}
	})
}

func FuzzSplitCommand(f *testing.F) {
	f.Add(`a "b c" 'd' e\ f`)
	f.Fuzz(func(t *testing.T, s string) { _, _ = splitCommand(s) })
}

func FuzzExpand(f *testing.F) {
	f.Add("%(program_name)s_%(process_num)02d %%")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = expand(s, map[string]any{"program_name": "p", "process_num": 3})
	})
}

func FuzzParseEnvironment(f *testing.F) {
	f.Add(`A="1",B=2,C='x y'`)
	f.Fuzz(func(t *testing.T, s string) { _, _ = parseEnvironment(s) })
}
