package config

import (
	"errors"
	"fmt"
	"os/user"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/tendhq/tend/cmd/internal/peer"
)

// Validate runs the checks that depend on the host rather than the file:
// every user and group named must exist, and each socket's path must be
// free or hold a socket (tend replaces only a stale socket, never a file
// that happens to be there). It is separate from Parse so a config can be
// checked on a machine other than the one it is for.
func (c *Config) Validate() error {
	var errs Errors
	add := func(key toml.Key, fallback int, err error) {
		line := c.lines.find(key)
		if line == 0 {
			line = fallback
		}
		errs = append(errs, &Error{File: c.file, Line: line, Key: key.String(), Msg: err.Error(), Err: err})
	}
	// Many workers name the same user and group; each lookup reads the
	// user database, so each name is looked up once.
	userErr, groupErr := memoize(lookupUser), memoize(lookupGroup)
	if g := c.Daemon.SocketGroup; g != "" {
		if err := groupErr(g); err != nil {
			add(toml.Key{"daemon", "socket_group"}, 0, err)
		}
	}
	if err := peer.CheckPath(c.Daemon.Socket); err != nil {
		add(c.SocketKey(), 0, err)
	}
	if p := c.Daemon.RPCSocket(); p != "" {
		if err := peer.CheckPath(p); err != nil {
			add(toml.Key{"daemon", "supervisor_rpc"}, 0, err)
		}
	}
	for _, name := range c.Order {
		w := c.Workers[name]
		if w == nil {
			continue
		}
		if w.User != "" {
			if err := userErr(w.User); err != nil {
				add(toml.Key{"worker", name, "user"}, w.Line, fmt.Errorf("worker %q: %w", name, err))
			}
		}
		if w.Group != "" {
			if err := groupErr(w.Group); err != nil {
				add(toml.Key{"worker", name, "group"}, w.Line, fmt.Errorf("worker %q: %w", name, err))
			}
		}
	}
	return errs.err()
}

func numeric(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func lookupUser(name string) error {
	var err error
	if numeric(name) {
		_, err = user.LookupId(name)
	} else {
		_, err = user.Lookup(name)
	}
	var unknownName user.UnknownUserError
	var unknownID user.UnknownUserIdError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &unknownName), errors.As(err, &unknownID):
		return fmt.Errorf("unknown user %q", name)
	}
	return fmt.Errorf("cannot look up user %q: %v", name, err)
}

func lookupGroup(name string) error {
	var err error
	if numeric(name) {
		_, err = user.LookupGroupId(name)
	} else {
		_, err = user.LookupGroup(name)
	}
	var unknownName user.UnknownGroupError
	var unknownID user.UnknownGroupIdError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &unknownName), errors.As(err, &unknownID):
		return fmt.Errorf("unknown group %q", name)
	}
	return fmt.Errorf("cannot look up group %q: %v", name, err)
}

// memoize remembers f's answer for each name.
func memoize(f func(string) error) func(string) error {
	seen := map[string]error{}
	return func(name string) error {
		err, ok := seen[name]
		if !ok {
			err = f(name)
			seen[name] = err
		}
		return err
	}
}

// KeyError reports err as a problem of key (e.g. "daemon", "socket") at its
// line in the file, for what is found wrong after loading: a socket path
// that changed between "tend check" and the daemon's start.
func (c *Config) KeyError(err error, key ...string) error {
	return Errors{{File: c.file, Line: c.lines.find(key), Key: toml.Key(key).String(), Msg: err.Error(), Err: err}}
}
