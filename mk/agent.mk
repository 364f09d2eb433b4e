# The instance agent (cmd/shadow-agent, shared/agent): build, benchmarks.
AGENT_ARCHS := arm64 amd64
AGENT_BINS := $(foreach a,$(AGENT_ARCHS),build/agent/shadow-agent-linux-$(a))

.PHONY: build build-agent bench-agent run-agent

build: build-agent

build-agent: ## Build the instance agent for linux/arm64 and linux/amd64 into build/agent/
	@mkdir -p build/agent
	@for a in $(AGENT_ARCHS); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$a $(GO) build -trimpath -ldflags='-s -w' -o build/agent/shadow-agent-linux-$$a ./cmd/shadow-agent; \
	done
	@ls -l $(AGENT_BINS)

bench-agent: ## Agent benchmarks: durable acks through HTTP in batches, client round trip, resync
	$(GO) test -run '^$$' -bench . -benchtime 3s ./shared/agent/

run-agent: ## Run an agent locally on :8470 with a throwaway key and data dir (build/run-agent)
	@mkdir -p build/run-agent && [ -s build/run-agent/key ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > build/run-agent/key
	$(GO) run ./cmd/shadow-agent --listen 127.0.0.1:8470 --data-dir build/run-agent/data --secret-file build/run-agent/key --log-level debug
