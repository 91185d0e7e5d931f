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

# A short run of every fuzz target.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseToken -fuzztime 30s ./session/
	$(GO) test -run '^$$' -fuzz FuzzDecodeCached -fuzztime 30s ./session/
	$(GO) test -run '^$$' -fuzz FuzzDecodeCreate -fuzztime 30s ./internal/server/
	$(GO) test -run '^$$' -fuzz FuzzBearer -fuzztime 30s ./internal/server/
	$(GO) test -run '^$$' -fuzz FuzzRequestID -fuzztime 30s ./internal/server/
	$(GO) test -run '^$$' -fuzz FuzzRedact -fuzztime 30s ./telemetry/
	$(GO) test -run '^$$' -fuzz FuzzTraceConfigFromEnv -fuzztime 30s ./telemetry/
	$(GO) test -run '^$$' -fuzz FuzzParseInfo -fuzztime 30s ./monitor/
	$(GO) test -run '^$$' -fuzz FuzzSettings -fuzztime 30s ./cmd/studio/
	$(GO) test -run '^$$' -fuzz FuzzParseDSN -fuzztime 30s ./session/sqlstore/

clean:
	rm -rf bin .studio
