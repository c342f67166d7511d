package config

import (
	"bytes"
	"os"

	"github.com/tendhq/tend/cmd/internal/config/locate"
)

// NotFoundError says that no config file was found and what was tried.
type NotFoundError = locate.NotFoundError

// Find picks the config file: the -c flag value if set, else $TEND_CONFIG,
// else ./tend.toml, else /etc/tend/tend.toml (locate.Find).
func Find(flagValue string) (string, error) { return locate.Find(flagValue) }

// Locate finds where a config's daemon keeps its state and its socket.
// Every client command needs the socket: locate.Fast reads the [daemon]
// table alone, and when it cannot cut the table out cleanly Locate falls
// back to a full Parse, so it never answers differently.
func Locate(path string) (Daemon, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Daemon{}, err
	}
	if p, ok := locate.Fast(path, bytes.NewReader(data)); ok {
		return Daemon{StateDir: p.StateDir, Socket: p.Socket}, nil
	}
	cfg, err := Parse(path, data)
	if err != nil {
		return Daemon{}, err
	}
	return cfg.Daemon, nil
}
