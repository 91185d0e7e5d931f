# Studio. `make up` runs everything locally; `make test` runs the suite as CI does.
.PHONY: up build test bench fuzz soak check clean

GO ?= go

build:
	$(GO) build -o bin/studio ./cmd/studio

up: build
	./bin/studio up --demo-load

test:
	scripts/test.sh

# Benchmarks behind docs/PERFORMANCE.md (each beside its same-run baseline):
# the load-tool tables (DURATION, ROUNDS, GOBENCH=0 to skip the go-test ones).
bench:
	GO=$(GO) scripts/bench.sh

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
