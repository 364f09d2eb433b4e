# Build output of docs/CONTRACTS.md: the five Lambda bootstraps (linux/arm64,
# deployed; linux/amd64, for local runs under the Runtime Interface
# Emulator), their zips, and the instance agent for both architectures.
# Area: infra (mk/build.mk).

FUNCTIONS := launch terminate fanout forecaster reconciler
BUILD_DIR ?= build
LAMBDA_GOFLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"

LAMBDA_ARM64 := $(foreach f,$(FUNCTIONS),$(BUILD_DIR)/lambda/$(f)/bootstrap)
LAMBDA_ZIPS  := $(foreach f,$(FUNCTIONS),$(BUILD_DIR)/lambda/$(f).zip)
LAMBDA_AMD64 := $(foreach f,$(FUNCTIONS),$(BUILD_DIR)/lambda-amd64/$(f)/bootstrap)
AGENT_BINS   := $(BUILD_DIR)/agent/shadow-agent-linux-arm64 $(BUILD_DIR)/agent/shadow-agent-linux-amd64

.PHONY: build build-lambda build-agent build-sizes clean-build

build: build-lambda build-agent ## Cross-compile the five Lambda bootstraps (arm64 + zips, amd64) and the agent into build/, and print their sizes
	@$(MAKE) --no-print-directory build-sizes

build-lambda: $(LAMBDA_ARM64) $(LAMBDA_ZIPS) $(LAMBDA_AMD64)

build-agent: $(AGENT_BINS)

# Always rebuilt (go's build cache makes that cheap): make's timestamps
# would not see changes in shared/.
.PHONY: FORCE
FORCE:

$(LAMBDA_ARM64): $(BUILD_DIR)/lambda/%/bootstrap: FORCE
	@mkdir -p $(@D)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_GOFLAGS) -o $@ ./functions/$*

$(LAMBDA_AMD64): $(BUILD_DIR)/lambda-amd64/%/bootstrap: FORCE
	@mkdir -p $(@D)
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build $(LAMBDA_GOFLAGS) -o $@ ./functions/$*

# The zip holds bootstrap at its root, mode 0755 (python3's zipfile keeps
# the file mode; no zip binary needed).
$(LAMBDA_ZIPS): $(BUILD_DIR)/lambda/%.zip: $(BUILD_DIR)/lambda/%/bootstrap
	@rm -f $@
	cd $(BUILD_DIR)/lambda/$* && python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED); z.write("bootstrap"); z.close()' ../$*.zip

$(AGENT_BINS): $(BUILD_DIR)/agent/shadow-agent-linux-%: FORCE
	@mkdir -p $(@D)
	GOOS=linux GOARCH=$* CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $@ ./cmd/shadow-agent

build-sizes:
	@echo "build sizes (bytes):"
	@for f in $(LAMBDA_ARM64) $(LAMBDA_ZIPS) $(LAMBDA_AMD64) $(AGENT_BINS); do \
	  printf '  %-48s %10d\n' "$$f" "$$(stat -c %s "$$f")"; done

clean-build: ## Remove build/
	rm -rf $(BUILD_DIR)
