# The two commands a newcomer needs:
#   make run   - install and start Redis and ClickHouse, then run the whole engine (HTTP on :8080)
#   make test  - install and start Redis, ClickHouse, a ClickHouse cluster and Chromium, vet, and run every test (none may skip)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
STACK := bash deploy/local/stack.sh
# Where the local servers keep their data, and where test output goes.
export ATTRIB_LOCAL_DIR ?= $(CURDIR)/.local
TEST_FLAGS ?= -race -count=1 -timeout 30m

.PHONY: run test build vet bench bench-e2e stack-up stack-down stack-status cluster-up cluster-down clean

build:
	$(GO) build -o bin/attrib ./cmd/attrib

run: stack-up build
	eval "$$($(STACK) env)"; exec ./bin/attrib serve --demo

test: stack-up cluster-up
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	mkdir -p "$(ATTRIB_LOCAL_DIR)"
	eval "$$($(STACK) env)"; \
	export ATTRIB_TEST_REDIS_URL="$$ATTRIB_REDIS_URL" ATTRIB_TEST_CLICKHOUSE_URL="$$ATTRIB_CLICKHOUSE_URL" ATTRIB_REQUIRE_INTEGRATION=1; \
	export ATTRIB_TEST_ANALYST_CLICKHOUSE_URL="$${ATTRIB_ANALYST_CLICKHOUSE_URL:-}"; \
	eval "$$($(STACK) cluster-env)"; \
	export ATTRIB_TEST_CLICKHOUSE_CLUSTER="$$ATTRIB_CLUSTER_CLICKHOUSE_NAME" ATTRIB_TEST_CLICKHOUSE_CLUSTER_URL="$$ATTRIB_CLUSTER_CLICKHOUSE_URL" \
		ATTRIB_TEST_CLICKHOUSE_REPLICAS="$$ATTRIB_CLUSTER_CLICKHOUSE_REPLICAS"; \
	set +e; $(GO) test $(TEST_FLAGS) -json ./... > "$(ATTRIB_LOCAL_DIR)/test.json"; status=$$?; set -e; \
	$(GO) run ./internal/tools/testreport -no-skip < "$(ATTRIB_LOCAL_DIR)/test.json"; \
	exit $$status

bench: stack-up
	eval "$$($(STACK) env)"; \
	export ATTRIB_TEST_REDIS_URL="$$ATTRIB_REDIS_URL" ATTRIB_TEST_CLICKHOUSE_URL="$$ATTRIB_CLICKHOUSE_URL"; \
	$(GO) test -run '^$$' -bench . -benchtime 200x ./...

# The whole pipeline under load: a fresh engine per scenario on this
# machine's servers, `attrib loadgen webhook` against it; figures under
# .local/bench-e2e/ (see deploy/local/bench-e2e.sh for the settings).
bench-e2e: stack-up build
	bash deploy/local/bench-e2e.sh

stack-up:
	$(STACK) up

stack-down:
	$(STACK) down

stack-status:
	$(STACK) status

# The local ClickHouse cluster (ZooKeeper and two replicas) of the cluster test.
cluster-up:
	$(STACK) cluster-up

cluster-down:
	$(STACK) cluster-down

clean:
	rm -rf bin
