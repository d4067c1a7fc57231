# The two commands a newcomer needs: `make up` and `make test`.
SHELL := /bin/bash
GO ?= go
STACK := deploy/local/stack.sh
GOTEST_TIMEOUT ?= 20m
# Where the tests record the statements they send, for the current-ClickHouse check.
SQL_RECORD := $(CURDIR)/.local/sql-record

.PHONY: up down test test-compat test-cluster fuzz demo bench bench-large build stack chdb fmt-check sdk sdk-deps chaos test-kafka-cluster

## up: install and start Kafka and ClickHouse, build and start collector, processor and dashboards
up: stack build
	deploy/local/run.sh start

## down: stop everything make up started
down:
	deploy/local/run.sh stop
	$(STACK) down

## test: start the real stack if needed, then check formatting, vet and run every test,
## recording every statement sent to ClickHouse, then replay them on current ClickHouse (test-compat)
test: stack chdb sdk-deps fmt-check build
	cd sdk-js && npm run --silent check && npm test
	bin/bench run -bench-smoke
	$(GO) vet ./...
	$(GO) vet -tags compat ./internal/chsql/compat
	rm -rf $(SQL_RECORD)
	FOOTFALL_SQL_RECORD=$(SQL_RECORD) $(GO) test -count=1 -timeout $(GOTEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory test-compat

# The fuzz targets, package:Target: the decoders of what the collector
# takes (query strings, JSON, the Kafka packs and events), the client
# address behind proxies, newsletter links and tokens.
FUZZ_TARGETS := ./collector/beacon:FuzzQueryMatchesFasthttp ./collector/beacon:FuzzPixel ./collector/beacon:FuzzBeacon \
	./collector/clientaddr:FuzzClient ./collector/kafkaout:FuzzPack ./internal/event:FuzzDecode ./internal/event:FuzzUnpack \
	./internal/event:FuzzClean ./internal/links:FuzzLinks
# A count, not a duration: with a duration Go's fuzz coordinator can fail a
# target that found nothing with a bare "context deadline exceeded" when the
# machine is loaded (golang/go#75804, fixed in Go 1.27; CI hit it on go1.26.8).
# A count has no deadline to race; 20,000 inputs take 1 to 9 s per target here.
FUZZTIME ?= 20000x

## fuzz: run each fuzz target for FUZZTIME (20000x: inputs, or a duration such as 30s; make test runs it); a failing input is kept in its package's testdata/fuzz
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		out="$$($(GO) test -run '^$$' -fuzz "^$${t##*:}\$$" -fuzztime $(FUZZTIME) $${t%%:*} 2>&1)" || { echo "$$out"; echo "fuzz $$t: FAILED"; exit 1; }; \
		echo "fuzz $$t: ok"; \
	done

## chaos: the fault suite's long version (tests/chaos; make test runs its short one with ./...): each fault
## several times under thousands of hits, on a Kafka broker of its own; prints the ledger, fails on a lost or doubled hit.
## CHAOS_RUN picks faults (a regexp of TestChaos/ subtests), CHAOS_ARGS=-chaos.delivery=memory a collector mode
CHAOS_TIMEOUT ?= 45m
CHAOS_RUN ?=
CHAOS_ARGS ?=
chaos: stack
	@mkdir -p .local
	FOOTFALL_CHAOS_REPORT=$(CURDIR)/.local/chaos-report.md $(GO) test -count=1 -timeout $(CHAOS_TIMEOUT) -run 'TestChaos/$(CHAOS_RUN)' -v ./tests/chaos -args -chaos.long $(CHAOS_ARGS)

## test-kafka-cluster: 3 KRaft Kafka nodes of its own (tests/kafkacluster, the local stack's jars): the programs make
## their topics with 3 replicas and min.insync.replicas 2, then the broker leading the most partitions is SIGKILLed
## under a collector's load; prints the stall and fails if an acknowledged hit is not in Kafka
test-kafka-cluster: stack
	FOOTFALL_KAFKA_CLUSTER=1 $(GO) test -count=1 -timeout 10m -run TestKafkaCluster -v ./tests/kafkacluster

## test-cluster: the cluster test on servers of its own (deploy/cluster/cluster.sh: ZooKeeper, 2 shards x 2 replicas of
## ClickHouse 18.16, 3 KRaft Kafka nodes, from empty data): the migrations ON CLUSTER (TestMigrateCluster), then two
## collectors and two processors under load while a ClickHouse replica, a Kafka broker, a collector and a processor are
## SIGKILLed (tests/chaos TestCluster); prints the ledger and each fault's recovery; stops every server it started
CLUSTER_TIMEOUT ?= 12m
test-cluster: stack
	deploy/cluster/cluster.sh up || { deploy/cluster/cluster.sh down; exit 1; }
	@eval "$$(deploy/cluster/cluster.sh env)"; rc=0; \
	FOOTFALL_TEST_CLUSTER_ADDRS=$$CLICKHOUSE_ADDRS $(GO) test -count=1 -timeout $(CLUSTER_TIMEOUT) -run '^(TestMigrateCluster|TestClusterRetry)$$' -v ./internal/chsql || rc=$$?; \
	if [[ $$rc == 0 ]]; then \
		FOOTFALL_TEST_CLUSTER_ADDRS=$$CLICKHOUSE_ADDRS $(GO) test -count=1 -p 1 -timeout $(CLUSTER_TIMEOUT) -run '^(TestClusterErasure|TestClusterRetentionPending|TestClusterNodeDown)$$' -v ./internal/profiles ./processor/retention || rc=$$?; \
	fi; \
	if [[ $$rc == 0 ]]; then \
		FOOTFALL_CLUSTER_REPORT=$(CURDIR)/.local/cluster-report.md $(GO) test -count=1 -timeout $(CLUSTER_TIMEOUT) -run '^TestCluster$$' -v ./tests/chaos -args -chaos.cluster || rc=$$?; \
	fi; \
	deploy/cluster/cluster.sh down; exit $$rc

## test-compat: replay what the last make test recorded on ClickHouse 18.16 and on current ClickHouse (chDB), compare
# The replay grows with the statements the tests send: 56,202 of them took
# 1,109 s (about 20 ms each on both servers) on a loaded 2-core machine,
# too near the other tests' 20 minutes.
COMPAT_TIMEOUT ?= 45m
test-compat: chdb
	FOOTFALL_SQL_RECORD=$(SQL_RECORD) $(GO) test -count=1 -timeout $(COMPAT_TIMEOUT) -tags compat -run 'TestCurrentClickHouse|TestNormalise|TestSameError' -v ./internal/chsql/compat

## sdk: rebuild sdk-js/dist (commit the result: the collector embeds it)
sdk: sdk-deps
	cd sdk-js && npm run --silent build

sdk-deps:
	$(STACK) tools
	cd sdk-js && npm ci --no-audit --no-fund --loglevel=error

## demo: send realistic sample traffic to the running collector
demo:
	$(GO) run ./cmd/demo

## bench: hot-path microbenchmarks, then the pipeline measured against its baselines (bin/bench run)
bench: stack build
	$(STACK) tools
	$(GO) test -run '^$$' -bench . -benchmem ./internal/event ./collector/... ./processor/enrich ./processor/attribute ./processor/consume
	bin/bench run

## bench-large: the queries step of bench at 10M then 100M generated events (a visitor per ten events: 10M
## profiles at 100M): the same report table with growth and the 100M targets, and bytes on disk per event.
## It refuses to start without room (about 40 GB free on ClickHouse's disk at 100M); hours on a 2-core machine
bench-large: stack build
	bin/bench run -bench-steps queries -bench-sizes 10000000,100000000

build:
	@mkdir -p bin
	$(GO) build -o bin/collector ./collector
	$(GO) build -o bin/processor ./processor
	$(GO) build -o bin/dashboards ./dashboards
	$(GO) build -o bin/bench ./cmd/bench
	$(GO) build -o bin/newsletter ./cmd/newsletter
	$(GO) build -o bin/fx ./cmd/fx

stack:
	$(STACK) up

chdb:
	$(STACK) chdb

fmt-check:
	@out="$$(gofmt -l .)"; if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
