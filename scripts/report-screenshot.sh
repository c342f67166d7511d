#!/bin/sh
# make report-screenshot: a report of the example's log, rendered to PNG so
# a person can look at it. Runs the example daemon for a while first when
# there is no log yet.
set -eu
cd "$(dirname "$0")/.."
db=.tend/tend.db
if [ ! -f "$db" ]; then
	./bin/tend daemon -c examples/tend.toml 2>/dev/null &
	pid=$!
	sleep 25
	./bin/tend -c examples/tend.toml stop stubborn >/dev/null || true
	kill -TERM "$pid"
	wait "$pid" || true
fi
./bin/tend -c examples/tend.toml report --db "$db" -o report.html --screenshot report.png
