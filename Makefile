# The two commands a newcomer needs (see README):
#   make demo-service  the migration service on its embedded database, between two local Dovecot servers
#   make test          run every test, real Dovecot and PostgreSQL included
# make demo shows the one-shot `imapmigrate sync` the same way.
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: build demo demo-service test check bench fuzz

build:
	$(GO) build -o bin/imapmigrate ./cmd/imapmigrate

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

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzOf -fuzztime=30s ./internal/fingerprint/
	$(GO) test -run='^$$' -fuzz=FuzzPlan -fuzztime=30s ./internal/folder/
	$(GO) test -run='^$$' -fuzz=FuzzMatch -fuzztime=30s ./internal/folder/
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=30s ./internal/batch/
	$(GO) test -run='^$$' -fuzz=FuzzLineSplitter -fuzztime=30s ./internal/testserver/
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=30s ./internal/throttle/
	$(GO) test -run='^$$' -fuzz=FuzzFixMailbox -fuzztime=30s ./internal/imapconn/
	$(GO) test -run='^$$' -fuzz=FuzzScanner -fuzztime=30s ./internal/imapconn/

bench: build
	./scripts/deps.sh
	$(GO) run ./cmd/demo -bin bin/imapmigrate -bench
