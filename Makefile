# The two commands a newcomer needs (see README):
#   make demo-service  the migration service on its embedded database, between two local Dovecot servers
#   make test          run every test, real Dovecot and PostgreSQL included
# make demo shows the one-shot `imapmigrate sync` the same way.
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: build demo demo-service test bench fuzz reliability

# A static binary (pure Go: the SQLite driver and the DNS resolver need
# no cgo): it copies to any Linux machine, and starts a millisecond
# sooner, which an `imapmigrate sync` run per mailbox pays every time.
build:
	CGO_ENABLED=0 $(GO) build -o bin/imapmigrate ./cmd/imapmigrate

demo: build
	./scripts/deps.sh
	$(GO) run ./cmd/demo -bin bin/imapmigrate

# The migration service end to end: imapmigrate serve on SQLite, endpoints,
# a batch with two failing users, sync-now, report, complete, metrics.
# Add ARGS=-keep to try the CLI yourself afterwards.
demo-service: build
	./scripts/deps.sh
	$(GO) run ./cmd/demo -bin bin/imapmigrate -service $(ARGS)

test:
	./scripts/deps.sh
	gofmt -l . | (! grep .) || (echo "gofmt needed on the files above" && false)
	$(GO) vet ./...
	IMAPMIGRATE_INTEGRATION=1 $(GO) test -race -shuffle=on -timeout 15m ./...

# Runs the tests RELIABILITY.md names and writes their results into it.
reliability:
	./scripts/deps.sh
	./scripts/reliability.sh

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzOf -fuzztime=30s ./internal/fingerprint/
	$(GO) test -run='^$$' -fuzz=FuzzPlan -fuzztime=30s ./internal/folder/
	$(GO) test -run='^$$' -fuzz=FuzzMatch -fuzztime=30s ./internal/folder/
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=30s ./internal/batch/
	$(GO) test -run='^$$' -fuzz=FuzzLineSplitter -fuzztime=30s ./internal/testserver/
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=30s ./internal/throttle/
	$(GO) test -run='^$$' -fuzz=FuzzFixMailbox -fuzztime=30s ./internal/imapconn/
	$(GO) test -run='^$$' -fuzz=FuzzScanner -fuzztime=30s ./internal/imapconn/

# imapmigrate beside mbsync and Dovecot's dsync (doveadm backup) on the shared
# benchmark harness (../shared/bench, or BENCH_DIR): full, incremental and
# no-change passes, each verified, then one batch through imapmigrate serve;
# prints the table (BENCHMARKS.md). The small corpus takes about 5 minutes;
# make bench PROFILE=medium (10 x 5,000 messages, 2 GB) about 15. Servers,
# fixtures and results live in BENCH_ROOT (/tmp/imapbench), never here.
PROFILE ?= small
REPEAT ?= $(if $(filter small tiny,$(PROFILE)),3,1)
bench: build
	./scripts/deps.sh
	command -v mbsync >/dev/null || apt-get install -y -qq isync
	$(GO) run ./cmd/bench -bin bin/imapmigrate -profile $(PROFILE) -repeat $(REPEAT) $(BENCH_ARGS)
