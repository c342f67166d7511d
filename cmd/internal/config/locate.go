package config

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// Locate finds where a config's daemon keeps its state and its socket,
// reading only the [daemon] table. Every client command needs the socket,
// and a config with a thousand workers takes tens of milliseconds to parse
// whole; the [daemon] table alone takes microseconds. When the table cannot
// be cut out cleanly (dotted keys, an inline table, a multi-line string),
// Locate falls back to a full Parse, so it never answers differently.
func Locate(path string) (Daemon, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Daemon{}, err
	}
	if d, ok := locateFast(path, data); ok {
		return d, nil
	}
	cfg, err := Parse(path, data)
	if err != nil {
		return Daemon{}, err
	}
	return cfg.Daemon, nil
}

func locateFast(path string, data []byte) (Daemon, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Daemon{}, false
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
					return Daemon{}, false // twice: let Parse say what is wrong
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
			return Daemon{}, false // a dotted key or inline table at the top
		}
	}
	if sc.Err() != nil {
		return Daemon{}, false
	}
	var t struct {
		StateDir *string `toml:"state_dir"`
		Socket   *string `toml:"socket"`
	}
	if _, err := toml.Decode(section.String(), &t); err != nil {
		return Daemon{}, false
	}
	dir := filepath.Dir(abs)
	d := Daemon{StateDir: DefaultStateDir}
	if t.StateDir != nil {
		if *t.StateDir == "" {
			return Daemon{}, false
		}
		d.StateDir = resolve(dir, *t.StateDir)
	}
	if t.Socket != nil && *t.Socket != "" {
		d.Socket = resolve(dir, *t.Socket)
	} else {
		d.Socket = filepath.Join(d.StateDir, DefaultSocketName)
	}
	return d, true
}
