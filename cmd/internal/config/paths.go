package config

import "path/filepath"

// resolve makes p absolute against the config file's directory, so that a
// config file and the files it names can move together; resolving against
// the daemon's working directory would depend on how it was started.
func resolve(dir, p string) string {
	if p == "" {
		return ""
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return filepath.Clean(p)
}
