# lookout — the two commands are `make run` and `make test`.
GO        ?= go
BIN       := bin/lookout
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE      ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
RUN_ARGS  ?=

.PHONY: all build run test deps vet fmt-check unit bench fuzz soak clean

all: build

## build: the binary with version, commit and build date
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/lookout

## run: lookout with the built-in default config (monitors this machine), data in ./data
run: build
	./$(BIN) run $(RUN_ARGS)

## test: formatting, vet and every test (unit, integration, end-to-end)
test: deps fmt-check vet
	$(GO) test -count=1 -timeout 15m ./...

## deps: install what the tests need (servers, browser) when missing
deps:
	@for f in scripts/deps/*.sh; do [ -e "$$f" ] || continue; bash "$$f" || exit 1; done

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## unit: the fast tests only (no external servers, no end-to-end)
unit:
	$(GO) test -short -count=1 ./...

BENCH_DIR ?= bench
# The hot path's micro-benchmarks (decode, push, windows, rules, the whole
# ingest): the brokers' and the store's benchmarks need minutes of setup
# each; run them by hand (docs/benchmarks.md has their commands).
BENCH_PKGS ?= ./internal/preprocess ./internal/source/push ./internal/window ./internal/rule ./internal/app
## bench: micro-benchmarks (benchstat-ready bench/micro.txt) and the load scenarios (~6 min); rewrites docs/benchmarks.md
bench: build
	@mkdir -p $(BENCH_DIR)
	$(GO) test -run '^$$' -bench . -benchmem -count 6 -benchtime=1s $(BENCH_PKGS) | tee $(BENCH_DIR)/micro.txt
	$(GO) build -o bin/lookout-load ./cmd/lookout-load
	./bin/lookout-load -lookout ./$(BIN) -scenario push-10k-groups -runs 3 -duration 15s > $(BENCH_DIR)/push-10k-groups.json
	./bin/lookout-load -lookout ./$(BIN) -scenario push-10k-groups-zstd -runs 3 -duration 15s > $(BENCH_DIR)/push-10k-groups-zstd.json
	./bin/lookout-load -lookout ./$(BIN) -scenario push-10k-groups-nostore -runs 3 -duration 15s > $(BENCH_DIR)/push-10k-groups-nostore.json
	./bin/lookout-load -lookout ./$(BIN) -scenario alert-latency -duration 40s > $(BENCH_DIR)/alert-latency.json
	./bin/lookout-load -lookout ./$(BIN) -scenario rss-100k-groups -duration 30s > $(BENCH_DIR)/rss-100k-groups.json
	./bin/lookout-load -lookout ./$(BIN) -scenario rss-groups-slope -runs 2 > $(BENCH_DIR)/rss-groups-slope.json
	./bin/lookout-load -update-doc docs/benchmarks.md -micro $(BENCH_DIR)/micro.txt $(BENCH_DIR)/*.json

FUZZTIME ?= 60s
FUZZ_TARGETS := FuzzDecode:./internal/preprocess FuzzPrometheus:./internal/source/http FuzzJSON:./internal/source/otlp \
	FuzzProtobuf:./internal/source/otlp FuzzParse:./internal/config FuzzCompile:./internal/window FuzzWhen:./internal/rule \
	FuzzSplitter:./internal/source/logfile FuzzEncodeFields:./internal/store FuzzLoadBaselines:./internal/window \
	FuzzPlainRaw:./internal/store FuzzDecodeKeep:./internal/preprocess FuzzSQLFilter:./internal/store
## fuzz: every fuzz target for FUZZTIME each (seeds in testdata/fuzz)
fuzz:
	@for t in $(FUZZ_TARGETS); do n=$${t%%:*}; p=$${t#*:}; echo "== $$n ($$p)"; \
		$(GO) test -run '^$$' -fuzz "^$$n\$$" -fuzztime $(FUZZTIME) $$p || exit 1; done

## soak: 10 minutes at half the measured maximum; RSS and goroutines must stay flat
soak: deps
	LOOKOUT_SOAK=1 $(GO) test -count=1 -run TestSoak -v -timeout 30m ./test/chaos

clean:
	rm -rf bin
