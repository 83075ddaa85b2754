# salerelay: the two commands a newcomer needs are `make run` and `make test`.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: run test build bench lint image

## run: start salerelay dev (embedded JetStream, local Pusher stand-in)
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/salerelay dev

## test: every test, with the race detector
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

## build: the salerelay binary in bin/
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/salerelay ./cmd/salerelay

## image: the container image (needs a Docker engine)
image:
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) \
		--build-arg COMMIT=$(COMMIT) -t salerelay:$(VERSION) .
