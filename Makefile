# salerelay: the two commands a newcomer needs are `make run` and `make test`.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: run test build bench image

## run: start salerelay dev (embedded JetStream, local Pusher stand-in); Ctrl-C stops it
# The binary is built first and then run, rather than `go run`, so that Ctrl-C reaches
# salerelay itself and a clean stop exits 0.
run: build
	exec bin/salerelay dev

## test: every test, with the race detector
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

## build: the salerelay binary in bin/
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/salerelay ./cmd/salerelay

## bench: build salerelay and load-test it on this machine with a local Pusher stand-in
##        (defaults finish in about a minute; add flags with BENCH_FLAGS="-n 50000 -c 64")
bench:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/salerelay ./cmd/salerelay
	$(GO) build -trimpath -o bin/salerelay-bench ./cmd/salerelay-bench
	bin/salerelay-bench -salerelay bin/salerelay $(BENCH_FLAGS)

## image: the container image (needs a Docker engine)
image:
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) \
		--build-arg COMMIT=$(COMMIT) -t salerelay:$(VERSION) .
