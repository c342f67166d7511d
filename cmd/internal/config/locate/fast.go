package locate

import (
	"bufio"
	"bytes"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// The defaults of the two paths a client needs; config's defaults refer to
// these.
const (
	DefaultStateDir   = "/var/lib/tend"
	DefaultSocketName = "tend.sock" // inside the state dir
)

// Paths is where a config's daemon keeps its state and its socket, both
// absolute.
type Paths struct {
	StateDir string
	Socket   string
}

// Fast reads the paths from the [daemon] table of the config file at path,
// whose content is data, without parsing the rest: a config with a
// thousand workers takes tens of milliseconds to parse whole, the [daemon]
// table alone microseconds. false: the table cannot be cut out cleanly
// (dotted keys, an inline table, a multi-line string, twice), and only a
// full parse can say.
func Fast(path string, data []byte) (Paths, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Paths{}, false
	}
	var section bytes.Buffer
	in, found := false, false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			if found && in {
				in = false
			}
			if line == "[daemon]" || strings.HasPrefix(line, "[daemon]") && strings.HasPrefix(strings.TrimSpace(line[len("[daemon]"):]), "#") {
				if found {
					return Paths{}, false // twice: let Parse say what is wrong
				}
				in, found = true, true
				continue
			}
			continue
		}
		if in {
			section.WriteString(sc.Text())
			section.WriteByte('\n')
		} else if strings.HasPrefix(line, "daemon") && !found {
			return Paths{}, false // a dotted key or inline table at the top
		}
	}
	if sc.Err() != nil {
		return Paths{}, false
	}
	var t struct {
		StateDir *string `toml:"state_dir"`
		Socket   *string `toml:"socket"`
	}
	if _, err := toml.Decode(section.String(), &t); err != nil {
		return Paths{}, false
	}
	dir := filepath.Dir(abs)
	d := Paths{StateDir: DefaultStateDir}
	if t.StateDir != nil {
		if *t.StateDir == "" {
			return Paths{}, false
		}
		d.StateDir = Resolve(dir, *t.StateDir)
	}
	if t.Socket != nil && *t.Socket != "" {
		d.Socket = Resolve(dir, *t.Socket)
	} else {
		d.Socket = filepath.Join(d.StateDir, DefaultSocketName)
	}
	return d, true
}

// Resolve makes p absolute against the config file's directory, so that a
// config file and the files it names can move together; resolving against
// the daemon's working directory would depend on how it was started.
func Resolve(dir, p string) string {
	if p == "" {
		return ""
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return filepath.Clean(p)
}
