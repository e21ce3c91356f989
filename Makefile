# paradigm-upload — targets a newcomer can guess.
GO      ?= go
BIN     := bin/paradigm-upload
PKG     := github.com/paradigm-upload/paradigm-upload
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X $(PKG)/internal/buildinfo.Version=$(VERSION) \
           -X $(PKG)/internal/buildinfo.Commit=$(COMMIT) -X $(PKG)/internal/buildinfo.Date=$(DATE)

GOLANGCI_LINT_VERSION := v2.15.0
GORELEASER_VERSION    := v2.16.0
TOOLS                 := $(CURDIR)/bin

.PHONY: all build test lint demo cross bench bench-go release-check clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

# The test command of the README and of .ci/run.
test:
	$(GO) test -race -count=1 ./...

lint: $(TOOLS)/golangci-lint
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/golangci-lint run ./...

# Pinned tools, built from the Go module proxy into ./bin.
$(TOOLS)/golangci-lint:
	GOBIN=$(TOOLS) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

$(TOOLS)/goreleaser:
	GOBIN=$(TOOLS) $(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

release-check: $(TOOLS)/goreleaser
	$(TOOLS)/goreleaser check

# Platform-specific code (file locking) must keep compiling everywhere.
cross:
	GOOS=windows GOARCH=amd64 $(GO) vet ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null .
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null .
	GOOS=linux GOARCH=arm64 $(GO) build -o /dev/null .

demo: build
	BIN=$(BIN) ./scripts/demo.sh

# The scale targets, each beside its baseline (see README).
bench:
	$(GO) run ./bench

# Go benchmarks: scanner, multipart encoder, state journal.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

clean:
	rm -rf bin dist
