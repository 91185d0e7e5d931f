# Studio. `make up` runs everything locally; `make test` runs the suite as CI does.
.PHONY: up build image test bench sizing fuzz soak check clean

GO ?= go

build:
	$(GO) build -o bin/studio ./cmd/studio

# The container image, built with no Docker engine (internal/ociimage): a
# static build of cmd/studio and the machine's CA bundle on an empty image,
# written as a docker-save tarball (docker load -i bin/studio-image.tar).
# The file times and created time are the commit's (or SOURCE_DATE_EPOCH),
# so a commit always gives the same digest. IMAGE_ARCH=arm64 for arm64.
IMAGE_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
image:
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) $(GO) build -trimpath \
		-ldflags "-s -w -X main.version=$(IMAGE_VERSION)" -o bin/studio-static ./cmd/studio
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./scripts/mkimage -binary bin/studio-static \
		-version $(IMAGE_VERSION) -revision "$$(git rev-parse HEAD 2>/dev/null)" -out bin/studio-image.tar

# Both install what they need first (scripts/deps.sh: as root, or it
# prints the command to run).
up: build
	scripts/deps.sh up
	./bin/studio up --demo-load

# Tools the suite builds with go install (scripts/tools.sh: helm, promtool) go to
# /usr/local/bin as root, else to GOPATH/bin, where scripts/test.sh looks.
test:
	scripts/deps.sh test
	@if [ -x scripts/tools.sh ]; then \
		if [ "$$(id -u)" != 0 ]; then export TOOLS_BIN="$${TOOLS_BIN:-$$($(GO) env GOPATH)/bin}"; fi; \
		echo scripts/tools.sh; scripts/tools.sh; \
	fi
	scripts/test.sh

# Benchmarks behind docs/PERFORMANCE.md (each beside its same-run baseline):
# the load-tool tables (DURATION, ROUNDS, GOBENCH=0 to skip the go-test ones).
bench:
	GO=$(GO) scripts/bench.sh

# The sizing table of docs/DEPLOY.md: memory, connections and Redis
# memory of one instance at 10k, 100k and 1M active sessions (SIZES,
# DURATION, RATE, STORE).
sizing:
	GO=$(GO) scripts/sizing.sh

# A short run of every fuzz target in the module (FUZZTIME each).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# The soak test (docs/RELIABILITY.md, "Soak"): half the measured capacity
# for SOAK_DURATION (default 10m), memory and goroutines sampled.
soak:
	$(GO) test -tags soak -run TestSoak -timeout 30m -v ./soak/

clean:
	rm -rf bin .studio
