package config

import "github.com/tendhq/tend/cmd/internal/config/locate"

// resolve makes p absolute against the config file's directory (see
// locate.Resolve).
func resolve(dir, p string) string { return locate.Resolve(dir, p) }
