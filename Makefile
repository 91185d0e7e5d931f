# Studio. `make up` runs everything locally; `make test` runs the suite as CI does.
.PHONY: up build test bench fuzz check clean

GO ?= go

build:
	$(GO) build -o bin/studio ./cmd/studio

up: build
	./bin/studio up --demo-load

test:
	scripts/test.sh

# Benchmarks behind docs/PERFORMANCE.md (each beside its same-run baseline).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 3 ./session/ ./session/sqlstore/ ./internal/server/
	$(GO) test -run '^$$' -bench 'HookOverhead' -count 3 ./redisconn/
	$(GO) test -run '^$$' -bench 'GetSaturationPaired' -benchtime 10x -count 3 ./redisconn/
	$(GO) test -run '^$$' -bench . -count 3 ./monitor/ ./telemetry/

# A short run of every fuzz target in the module (FUZZTIME each).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin .studio
