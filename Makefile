# tend — make targets. `make run` and `make test` do all set-up on a fresh
# machine (Go from the machine; Debian packages for the browser and
# supervisorctl tests are installed by scripts/deps.sh when missing).

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test test-short bench bench-peers bench-scale bench-commands bench-floor proptest proptest-mutants faulttest deps report-screenshot clean

all: build

# Two binaries, installed side by side: tend, the lean client users type,
# and tendd, the full program (the daemon and every command), to which tend
# hands what it does not run itself. tend is built without cgo: it resolves
# no names, and a static binary starts about 3 ms sooner than one the
# dynamic loader must link first.
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/tend ./cmd/tend
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/tendd ./cmd/tendd
	$(GO) build -o bin/tend-demo ./cmd/tend-demo

# Runs tend on its bundled example; state (log, socket, worker output) in ./.tend.
run: build
	./bin/tend daemon -c examples/tend.toml

# The whole suite, race detector on: what CI runs.
test: deps build
	$(GO) vet ./...
	$(GO) test -race -timeout 9m ./...

test-short: build
	$(GO) test -short ./...

deps:
	@scripts/deps.sh

# Benchmarks: medians matter, so several counts. See README "Performance".
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 5 ./events/ ./store/ ./fsm/ ./supervisor/... ./cmd/...

# tend against the harness's ideal supervisor and, with PEERS="runit daemontools"
# (or PEERS=all), the peers, in one run: cold start, restart latency, memory,
# idle CPU, stop-all, status. The peers come from the harness's setup.sh.
PEERS ?=
bench-peers: build
	scripts/bench-peers.sh -n "400 1000" -r 3 $(if $(PEERS),-p "$(PEERS)")

# The same at scale, tend and the ideal only: raises the open-file limit it
# needs (as root) and says so.
bench-scale: build
	scripts/bench-peers.sh -n "5000 10000" -r 3

# Every everyday command timed against one daemon with N idle workers.
bench-commands: build
	scripts/bench-commands.sh -n $(or $(N),10000) -b bin/tend

# Restart latency of tend beside the ideal supervisor and the same ideal made
# to write ahead (two flushes before each respawn): what writing ahead costs
# on this disk, and what tend adds to it. N workers each (default 400).
bench-floor:
	scripts/bench-restart-floor.sh -n $(or $(N),400)

# The deep property run: thousands of generated concurrent interleavings per
# property (make test runs a few of each under -race). A failure prints the
# seed and the shrunk interleaving and leaves a fail file under
# proptest/testdata/rapid, which every later run replays first.
proptest:
	RAPID_CHECKS=$${RAPID_CHECKS:-2000} $(GO) test -count=1 -timeout 600m ./proptest/ -v

# Every deliberately broken variant of the supervisor must be caught.
proptest-mutants:
	sh proptest/mutants.sh

# The fault catalogue's long runs (cmd/tendd/fault_catalogue_test.go; each
# logs a "figures:" line): a crash at every failpoint (tend rebuilt with
# gofail), power cuts, 3 s and 10 s fsyncs, and SIGKILL of the daemon at
# hundreds of random moments under churn. The fast rows run in make test.
faulttest: deps build
	TEND_FAULTTEST=1 $(GO) test -timeout 60m -run 'Fault' ./cmd/tendd/ -v

report-screenshot: build
	scripts/report-screenshot.sh

clean:
	rm -rf bin .tend report.html report.png
