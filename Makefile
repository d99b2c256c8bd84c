# The two commands a newcomer needs (see README):
#   make demo   migrate generated mail between two local Dovecot servers
#   make test   run every test, real Dovecot included
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: build demo test check bench fuzz

build:
	$(GO) build -o bin/imapmigrate ./cmd/imapmigrate

demo: build
	./scripts/deps.sh
	$(GO) run ./cmd/demo -bin bin/imapmigrate

test:
	./scripts/deps.sh
	gofmt -l . | (! grep .) || (echo "gofmt needed on the files above" && false)
	$(GO) vet ./...
	IMAPMIGRATE_INTEGRATION=1 $(GO) test -race -shuffle=on -timeout 15m ./...

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzOf -fuzztime=30s ./internal/fingerprint/
	$(GO) test -run='^$$' -fuzz=FuzzPlan -fuzztime=30s ./internal/folder/
	$(GO) test -run='^$$' -fuzz=FuzzMatch -fuzztime=30s ./internal/folder/

bench: build
	./scripts/deps.sh
	$(GO) run ./cmd/demo -bin bin/imapmigrate -bench
