// Package locate finds a config file (-c, $TEND_CONFIG, ./tend.toml,
// /etc/tend/tend.toml) and, cheaply, where its daemon keeps its state and
// its control socket, reading only the [daemon] table.
//
// It is what a client needs before it can ask the daemon anything, and the
// lean `tend` client links it instead of config: it imports nothing beyond
// the standard library, not even a TOML decoder (whose init every command
// would pay), so a command that talks to the daemon starts fast. Fast
// gives up (false) on any [daemon] table it cannot read with certainty;
// config.Locate then parses the whole file, so the two never answer
// differently.
//
// This package may NOT parse workers, validate anything, or start, open or
// create anything but the config file it reads.
package locate
