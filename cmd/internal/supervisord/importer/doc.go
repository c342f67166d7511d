// Package importer converts a supervisord configuration into tend's TOML.
//
// It reads supervisord's INI dialect the way supervisord 4 does (Python's
// configparser with inline ";" and "#" comments, indented continuation
// lines, lower-cased option names and case-sensitive section names), follows
// [include] sections, applies supervisord's %(name)s expansions, and turns
// every [program:x] into one [worker.NAME] table per process.
//
// Nothing is dropped silently: a section, key or value that tend cannot
// express is reported as a Warning naming the file and line it came from.
//
// Groups: tend has no process groups. Every worker converted from a program
// carries a machine-readable comment line just above its table,
//
//	# supervisord: worker="web_00" group="web" priority=999
//
// which Groups reads back, so that the supervisorctl front end can offer
// "group:*" names. Editing or deleting the line only changes what
// supervisorctl shows; tend itself ignores it.
//
// This package may NOT write files, start processes or touch the network:
// Convert reads the configuration files and returns bytes; writing them is
// the caller's job. The output is checked with config.Parse before it is
// returned, so a conversion either loads in tend or fails loudly.
package importer
