package locate

import (
	"fmt"
	"os"
	"strings"
)

// NotFoundError says that no config file was found and what was tried.
type NotFoundError struct {
	Tried []string
}

func (e *NotFoundError) Error() string {
	return "no config file found; tried " + strings.Join(e.Tried, ", ") + " (use -c or $TEND_CONFIG)"
}

// Find picks the config file: the -c flag value if set, else $TEND_CONFIG,
// else ./tend.toml, else /etc/tend/tend.toml. A path given explicitly must
// exist; falling back past it would run the wrong config.
func Find(flagValue string) (string, error) {
	return find(flagValue, os.Getenv("TEND_CONFIG"), "tend.toml", "/etc/tend/tend.toml")
}

func find(flagValue, envValue string, defaults ...string) (string, error) {
	if flagValue != "" {
		return explicit(flagValue, "-c")
	}
	if envValue != "" {
		return explicit(envValue, "$TEND_CONFIG")
	}
	var tried []string
	for _, p := range defaults {
		tried = append(tried, p)
		fi, err := os.Stat(p)
		switch {
		case err == nil && fi.Mode().IsRegular():
			return p, nil
		case err == nil:
			// A directory named tend.toml is not a config; keep looking.
		case os.IsNotExist(err):
		default:
			// Unreadable is not absent: falling through to the next
			// candidate would silently run a different config.
			return "", fmt.Errorf("config file %s: %w", p, err)
		}
	}
	return "", &NotFoundError{Tried: tried}
}

func explicit(p, source string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("config file %s (from %s): %w", p, source, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("config file %s (from %s) is not a regular file", p, source)
	}
	return p, nil
}
