package config

import (
	"math/rand/v2"
	"os"
	"reflect"
	"testing"

	"github.com/BurntSushi/toml"
)

// fastSeeds are inputs for the fast decoder: what it must take, and what it
// must leave to the library.
var fastSeeds = []string{
	"",
	"\n\n# only a comment\n",
	"a = 1\nb = -0\nc = +7\nd = 9223372036854775807\ne = -9223372036854775808\n",
	"f = 1.5\ng = -0.0\nh = 1e5\ni = 6.02E+23\nj = 1.5e-3\n",
	"t = true\nf = false\n",
	`s = "plain"` + "\n" + `e = "q\"b\\n\nt\tr\rb\bf\f"` + "\nl = 'C:\\path\\'\nempty = \"\"\nel = ''\nu = \"ünïcödé\"\n",
	"a = []\nb = [1, 2, ]\nc = [\n  \"x\", # comment\n  'y',\n\n]\nd = [[1, 2], [\"a\"], []]\ne = [1, \"mixed\", true, 1.5]\n",
	"a = {}\nb = { x = 1, y = \"two\", z = [1, 2], w = { v = true } }\nc = [{ a = 1 }, { b = 2 }]\n",
	"[a]\nx = 1\n[a.b]\ny = 2\n[c.d.e]\n[c]\nz = 3\n",
	"[ a . \"b c\" . 'd' ]\nk = 1\n\"quoted key\" = 2\n'lit key' = 3\n",
	"  [indented]  # comment\n\tk = 1 # comment\r\nx = 2\r\n",
	"[worker.web]\ncommand = [\"/bin/web\", \"--port=8080\"]\nenv = { PORT = \"8080\" }\nrestart = \"always\"\n[worker.web.health]\ntype = \"tcp\"\naddress = \"127.0.0.1:8080\"\n[worker.web.limits]\ncpu = 150.5\nmemory = \"1GiB\"\n",
	// Left to the library, valid or not.
	"a.b = 1\n",
	"[[arr]]\nx = 1\n",
	"a = \"\"\"\nmulti\n\"\"\"\n",
	"a = '''\nmulti\n'''\n",
	"a = 1979-05-27\n",
	"a = 1979-05-27T07:32:00Z\n",
	"a = 0x1F\nb = 0o7\nc = 0b1\n",
	"a = 1_000\n",
	"a = inf\nb = nan\nc = -inf\n",
	"a = \"\\u00e9\"\n",
	"a = \"\\e\"\n",
	"a = { b = 1, }\n",
	"a = { b = 1,\n c = 2 }\n",
	"a = { b = [\n1] }\n",
	"a = 1\na = 2\n",
	"[a]\n[a]\n",
	"a = 1\n[a]\n",
	"a = {}\n[a]\n",
	"a = { b = {} }\n[a.b]\n",
	"[a.b]\n[a]\nb = 1\n",
	"[a]\nb = {}\n[a.b.c]\n",
	"a = 01\nb = 1.\nc = .5\nd = 1e\ne = +-1\nf = 99999999999999999999\n",
	"a = 1e400\n",
	"a = 1 2\n",
	"a =\n1\n",
	"= 1\n",
	"\"\" = 1\n",
	"[\"\"]\n",
	"a = \"\x01\"\n",
	"a = 1\r",
	"\uFEFFa = 1\n",
	"a = \"unterminated\n",
	"a = [1, 2\n",
	"[a\n",
	"[a.]\n",
	"[.a]\n",
	"[]\n",
	"a = truee\n",
	"a = \xff\n",
	"a = 1 # \x7f\n",
}

func checkFast(t *testing.T, src []byte) (accepted bool) {
	t.Helper()
	got, ok := decodeFast(src)
	if !ok {
		return false
	}
	var want map[string]any
	if _, err := toml.Decode(string(src), &want); err != nil {
		t.Fatalf("the fast decoder took what the library refuses (%v):\n%q", err, src)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the fast decoder and the library disagree on\n%q\nfast:    %#v\nlibrary: %#v", src, got, want)
	}
	return true
}

// TestDecodeFastAgreesWithLibrary holds the fast decoder to its promise:
// whatever it decodes, the library decodes the same way. It runs the seeds
// above and random edits of them and of whole configurations.
func TestDecodeFastAgreesWithLibrary(t *testing.T) {
	corpus := [][]byte{benchConfig(20), mustRead(t, "testdata/full.toml")}
	for _, s := range fastSeeds {
		corpus = append(corpus, []byte(s))
	}
	var plain [][]byte // the inputs the fast decoder takes, edited most
	for _, src := range corpus {
		if checkFast(t, src) {
			plain = append(plain, src)
		}
	}
	for _, must := range []string{fastSeeds[2], fastSeeds[6], fastSeeds[11], string(benchConfig(20))} {
		if !checkFast(t, []byte(must)) {
			t.Errorf("the fast decoder refused plain TOML:\n%s", must)
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab1.=\"'[]{},# \n\t\\-+e_:\r")
	n := 30000
	if testing.Short() {
		n = 3000
	}
	accepted := 0
	for range n {
		from := corpus
		if rng.IntN(4) > 0 {
			from = plain
		}
		b := append([]byte(nil), from[rng.IntN(len(from))]...)
		for j := rng.IntN(4); j >= 0 && len(b) > 0; j-- {
			at := rng.IntN(len(b))
			c := alphabet[rng.IntN(len(alphabet))]
			switch rng.IntN(3) {
			case 0:
				b[at] = c
			case 1:
				b = append(b[:at], b[at+1:]...)
			default:
				b = append(b[:at], append([]byte{c}, b[at:]...)...)
			}
		}
		if checkFast(t, b) {
			accepted++
		}
	}
	if accepted < n/8 {
		t.Errorf("only %d of %d edited inputs were decoded fast; the edits test little", accepted, n)
	}
}

func FuzzDecodeFast(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	if full, err := os.ReadFile("testdata/full.toml"); err == nil {
		f.Add(full)
	}
	f.Fuzz(func(t *testing.T, src []byte) { checkFast(t, src) })
}
