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

run-agent: ## Run an agent locally on :8470 (TLS) for the instance "local", with a throwaway key file and data dir (build/run-agent)
	@mkdir -p build/run-agent && [ -s build/run-agent/keys ] || printf 'shadowscale-agent-keys v2\nlocal %s\n' "$$(head -c 32 /dev/urandom | base64)" > build/run-agent/keys
	$(GO) run ./cmd/shadow-agent --listen 127.0.0.1:8470 --data-dir build/run-agent/data --key-file build/run-agent/keys --log-level debug
