// Package logfile owns the files a worker can reach: its stdout and stderr
// files, their rotated copies and the directories that hold them. The
// daemon runs as root; a worker may run as another user and mean harm. Any
// name in a directory the worker can write may have been replaced by the
// worker between two looks, so this package never trusts a name there:
//
//   - A path is resolved with openat2(RESOLVE_NO_SYMLINKS). When it meets a
//     symbolic link, the path is walked one directory at a time through
//     descriptors, and a link is followed only where only root could have
//     put it: in a directory owned by root that no one else can write (or a
//     sticky root directory, for a link root owns). A link anywhere else is
//     refused with ErrUnsafe, whatever it points to.
//   - The file is opened O_NOFOLLOW|O_NONBLOCK|O_NOCTTY, so neither a link
//     nor a FIFO planted at its name is followed or blocks the daemon, and
//     then judged through its descriptor: it must be a regular file with one
//     link, owned by root, the daemon or the worker. A worker's output may
//     also go where only root could have pointed it: a character device
//     root owns (/dev/null), or a FIFO or socket in a directory only root
//     can write, or the daemon's own stdout (/dev/stdout, a magic link in
//     /proc). Only regular files are read back and rotated.
//   - Rotation renames, unlinks and creates names relative to a descriptor
//     of the directory. A backup is written to a temporary name that is
//     unlinked first and then created O_EXCL, so whatever was planted there
//     is removed, never written through.
//   - CheckDir tells whether a user other than root and the worker can write
//     a directory on the way to the output files, for the configuration to
//     refuse; the rules above hold whether or not it is asked.
//
// Rotation is copy-then-truncate, because the worker writes the file itself
// through its O_APPEND descriptor, and it is a bound: a file over its limit
// is split into backups of at most the limit each, the newest kept and the
// oldest dropped, so a worker's files never hold more than
// (1 + backups) × max bytes after a rotation, however much it wrote before.
// Between rotations the live file grows as fast as the worker writes.
//
// One Follower reads a file that is rotated or truncated under it, for
// "tend logs -f" and supervisorctl's tail alike.
//
// This package imports nothing of tend's. It does not decide when to
// rotate, log, or retry: it knows a path, a size limit and the uid of the
// worker the file belongs to.
package logfile
