# The closed-loop scaling benchmark (shared/sim, cmd/shadowscale bench scaling).
TRACES ?= ../shared/data/nab/*.csv

.PHONY: bench-scaling

bench-scaling: ## Closed-loop scaling benchmark of SCALING.md over TRACES (default ../shared/data/nab/*.csv)
	$(GO) run ./cmd/shadowscale bench scaling $(TRACES)
