// Package config reads tend's TOML configuration file and turns it into a
// validated, fully defaulted description of the daemon and its workers.
//
// Every problem is reported with the file, the line and the full key path
// (for example "tend.toml:12: worker.web.stop_timeout: ..."), and all
// problems found are reported together, so an operator can fix a file in one
// pass. Unknown keys are errors: a misspelt limit must never be dropped
// silently.
//
// A main file may include drop-in files of [worker.NAME] tables (include,
// includes.go); every error names the file it is in, and a worker is
// defined in one file only.
//
// Parse looks only at the bytes it is given and the files their include
// key names. Validate adds the checks that depend on the host (users and
// groups exist, commands fit in what exec accepts, no one but root and the
// worker can write the directories of its output files, judged by
// supervisor/logfile) and Load does both, and reads the workers' env
// files. CheckTrusted says whether anyone but root and the daemon's user
// could change the file; TrustPaths lists the other files the daemon reads
// because the file names them.
//
// The restart policy, the health check and the limits are not described
// twice: they are decoded straight into the spec types of the packages that
// act on them (fsm/policy, supervisor/health, supervisor/limits). Those
// packages own the settings: their values (restart modes, probe types, limit
// policies), their keys (the fields' toml tags) and what makes them valid
// (Validate, whose FieldErrors this package reports at the key and line).
// This package owns what is about the file: which keys are required, the
// defaults of the rest (defaults.go), the bounds that refuse a value as a
// likely typo (bounds.go), and the checks that need the host (Validate).
//
// No error repeats a value of the file: a value in the wrong place may be
// a secret, and the file, line and key already point at it.
//
// This package may NOT start processes, open sockets, create directories,
// write files or touch the network. Paths are resolved, not created; that is
// the daemon's job.
package config
