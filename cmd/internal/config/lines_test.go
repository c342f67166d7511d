package config

import (
	"testing"

	"github.com/BurntSushi/toml"
)

func TestIndexLines(t *testing.T) {
	src := lines(
		`# comment with [brackets] and key = "value"`, // 1
		`top = 1`,                           // 2
		`[worker.web]   # trailing comment`, // 3
		`command = [`,                       // 4
		`  "/bin/web", # a comment inside an array`, // 5
		`  "--x=]",`,                          // 6
		`]`,                                   // 7
		`env.PORT = "80"`,                     // 8
		`note = """`,                          // 9
		`stop_timeout = "fake"`,               // 10
		`"""`,                                 // 11
		`lit = '''x = 1`,                      // 12
		`'''`,                                 // 13
		`limits = { memory = "1G", cpu = 5 }`, // 14
		`"quoted key" = 'v'`,                  // 15
		`esc = "a \" [b] # c"`,                // 16
		`[[arr]]`,                             // 17
		`x = 1`,                               // 18
		`[ worker . "db.1" . health ]`,        // 19
		`type = "tcp"`,                        // 20
		`[worker."db.1"]`,                     // 21
		`when = 1979-05-27 07:32:00Z`,         // 22
		`after = 2`,                           // 23
	)
	if _, err := toml.Decode(src, new(map[string]any)); err != nil {
		t.Fatalf("test input is not valid TOML: %v", err)
	}
	ix := indexLines(src)
	want := map[string]int{
		"top":                       2,
		"worker":                    3,
		"worker.web":                3,
		"worker.web.command":        4,
		"worker.web.env":            8,
		"worker.web.env.PORT":       8,
		"worker.web.note":           9,
		"worker.web.lit":            12,
		"worker.web.limits":         14,
		"worker.web.limits.memory":  14,
		"worker.web.limits.cpu":     14,
		`worker.web."quoted key"`:   15,
		"worker.web.esc":            16,
		"arr":                       17,
		"arr.1":                     17, // each element of an array of tables by its number
		"arr.1.x":                   18,
		`worker."db.1".health`:      19,
		`worker."db.1".health.type`: 20,
		`worker."db.1"`:             21, // the explicit header wins over the implied parent
		`worker."db.1".when`:        22,
		`worker."db.1".after`:       23,
	}
	for k, line := range want {
		if got := ix[k].line; got != line {
			t.Errorf("line of %s = %d, want %d", k, got, line)
		}
	}
	if _, ok := ix["worker.web.stop_timeout"]; ok {
		t.Error("text inside a multi-line string was taken for a key")
	}
	if got := ix.find(toml.Key{"worker", "web", "health", "url"}); got != 3 {
		t.Errorf("find falls back to the nearest ancestor: got %d, want 3", got)
	}
	if got := ix.find(toml.Key{"nowhere"}); got != 0 {
		t.Errorf("find of an unknown root = %d, want 0", got)
	}
}

// The scanner runs only on input the library accepted, but it must still
// never hang or panic on anything else.
func TestIndexLinesGarbage(t *testing.T) {
	for _, src := range []string{"", "[", "[[", "a", "a =", `a = "`, `a = """`, "a = '''", "a = [", "a = {", "a = { b", "= 1", "\\", "[a]]]", "a.=1", "{}", "\"\n\""} {
		indexLines(src)
	}
}
