# shadowscale: `make help` lists every target.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
GO ?= go
export GOFLAGS ?= -buildvcs=false

.PHONY: help run test unit race lint check-arch bench

# `make run` builds the CLI with the build tag sim: the simulator alone,
# without the operator commands that link the AWS SDK (minutes of compiling
# on a fresh machine). `go build ./cmd/shadowscale` builds every command.

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_%-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST) | sort

run: ## Replay the bundled real trace through the whole loop in an embedded simulation (no AWS needed)
	$(GO) run -tags sim ./cmd/shadowscale simulate


unit: ## Unit tests of the Go module (go test ./...), and the CLI as make run builds it (tag sim)
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -tags sim ./cmd/shadowscale/

# The packages whose code runs concurrently (handlers invoked concurrently,
# the router, the agent's store, the producer).
RACE_PKGS := ./shared/plane/... ./shared/domain/mutation/ ./shared/domain/shadow/ ./shared/agent/ ./shared/producer/

race: ## The concurrent packages' unit tests under the race detector (needs cgo: a C compiler)
	@if [ "$$($(GO) env CGO_ENABLED)" != 1 ]; then echo "race: cgo is off (no C compiler?): the race detector needs it"; exit 1; fi
	$(GO) test -race -count=1 $(RACE_PKGS)

lint: ## gofmt, go vet, and go.mod/go.sum tidy (go mod tidy -diff)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./shared/testing/... ./shared/adapters/...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum not tidy: run go mod tidy"; exit 1; }

check-arch: ## Prove the layout's import rules: shared/domain is pure Go; only adapters, plane and harnesses use AWS libraries
	@scripts/check-arch.sh

bench: ## Go benchmarks of the hot paths (forecaster fit, router, simulator)
	$(GO) test -run '^$$' -bench . -benchmem ./shared/...

# Each area adds its own targets, and its parts of `make test` to TEST_PARTS.
TEST_PARTS := lint check-arch unit race
-include mk/*.mk

test: $(TEST_PARTS) ## Everything CI runs (see TEST_PARTS): lint, architecture check, unit tests, and each area's suites
