# The CDK app (infra/, its own Go module), its tests, and LocalStack/moto
# deployment. Area: infra (mk/infra.mk). Docs: docs/INFRA.md.

INFRA_DIR    := infra
CDK_BIN      := $(INFRA_DIR)/node_modules/.bin
CDK_APP      := build/infra/cdk-app
CDK_OUT      ?= $(INFRA_DIR)/cdk.out
STACK_NAME   ?= ShadowScale
# Extra CDK context for synth/deploy/diff/destroy, e.g. CDK_ARGS='-c groups=web,api -c mode=act'
CDK_ARGS     ?=
LOCALSTACK_ASSEMBLY := build/cdk.out.localstack

# Node 20 is end-of-life for jsii: silence its banner (see docs/INFRA.md for Node 22).
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 20
export CDK_DISABLE_CLI_TELEMETRY ?= true

.PHONY: infra-deps infra-app synth infra-test cfn-lint deploy diff destroy bootstrap \
	localstack-moto localstack-up localstack-down localstack-smoke localstack-synth

infra-deps: $(CDK_BIN)/cdk ## npm ci in infra/: the pinned aws-cdk CLI and cdklocal

$(CDK_BIN)/cdk: $(INFRA_DIR)/package.json $(INFRA_DIR)/package-lock.json
	cd $(INFRA_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The CDK app as a binary: the CLI runs it (--app), no `go run` per call.
infra-app:
	@mkdir -p $(dir $(CDK_APP))
	cd $(INFRA_DIR) && $(GO) build -o ../$(CDK_APP) .

synth: build infra-app infra-deps ## Synthesize the stack offline into infra/cdk.out (needs the build output: runs make build)
	@start=$$(date +%s); \
	  cd $(INFRA_DIR) && ./node_modules/.bin/cdk synth -q --no-notices --app ../$(CDK_APP) -o $(abspath $(CDK_OUT)) $(CDK_ARGS); \
	  echo "synth: $(CDK_OUT)/$(STACK_NAME).template.json in $$(( $$(date +%s) - start )) s"

infra-test: ## Unit tests of the CDK app (awscdk assertions, IAM policy check, config); no cross-compile needed
	cd $(INFRA_DIR) && $(GO) vet ./... && $(GO) test -count=1 ./...

# cfn-lint checks the template, not the binaries: it synthesizes with
# placeholder assets so it does not depend on `make build`. Zero errors
# required (warnings, exit bit 4, are printed and tolerated). Two
# templates: the defaults, and named groups with alarm e-mail, act mode,
# a per-instance capacity, the resize grant, a provisioned stream and a
# longer route cache.
cfn-lint: infra-app infra-deps ## cfn-lint on the synthesized template (zero errors)
	@command -v cfn-lint >/dev/null || { echo "cfn-lint missing: pip install cfn-lint"; exit 1; }
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  for f in launch terminate fanout forecaster reconciler; do mkdir -p $$tmp/assets/lambda/$$f; echo placeholder > $$tmp/assets/lambda/$$f/bootstrap; done; \
	  mkdir -p $$tmp/assets/agent; for a in arm64 amd64; do echo placeholder > $$tmp/assets/agent/shadow-agent-linux-$$a; done; \
	  (cd $(INFRA_DIR) && ./node_modules/.bin/cdk synth -q --no-notices --app ../$(CDK_APP) -o $$tmp/out -c assetDir=$$tmp/assets $(CDK_ARGS)); \
	  for ctx in "" "-c groups=web,api -c alarmEmails=ops@example.com -c mode=act -c perInstance=600 -c allowResize=true -c resizeInstanceRoleArns=arn:aws:iam::123456789012:role/web -c streamMode=provisioned -c streamShards=330 -c routeCacheSeconds=600"; do \
	    if [ -n "$$ctx" ]; then (cd $(INFRA_DIR) && ./node_modules/.bin/cdk synth -q --no-notices --app ../$(CDK_APP) -o $$tmp/out2 -c assetDir=$$tmp/assets $$ctx); tpl=$$tmp/out2/$(STACK_NAME).template.json; \
	    else tpl=$$tmp/out/$(STACK_NAME).template.json; fi; \
	    rc=0; cfn-lint --format parseable "$$tpl" > $$tmp/lint.txt || rc=$$?; \
	    errors=$$(grep -c ':E[0-9]' $$tmp/lint.txt || true); warnings=$$(grep -c ':W[0-9]' $$tmp/lint.txt || true); \
	    echo "cfn-lint$${ctx:+ ($$ctx)}: $$errors errors, $$warnings warnings (exit $$rc)"; \
	    if [ $$((rc & 35)) -ne 0 ]; then cat $$tmp/lint.txt; exit 1; fi; \
	  done

bootstrap: build infra-app infra-deps ## cdk bootstrap the current AWS account/region (once per account and region)
	cd $(INFRA_DIR) && ./node_modules/.bin/cdk bootstrap --no-notices --app ../$(CDK_APP) $(CDK_ARGS)

deploy: build infra-app infra-deps ## cdk deploy the stack to the current AWS account/region (CDK_ARGS='-c key=value ...')
	cd $(INFRA_DIR) && ./node_modules/.bin/cdk deploy --no-notices --app ../$(CDK_APP) $(CDK_ARGS) $(STACK_NAME)

diff: build infra-app infra-deps ## cdk diff against the deployed stack
	cd $(INFRA_DIR) && ./node_modules/.bin/cdk diff --no-notices --app ../$(CDK_APP) $(CDK_ARGS) $(STACK_NAME)

destroy: infra-app infra-deps ## cdk destroy the stack (the table is kept when deletionProtection is on), then terminate the shadows it leaves (shadowscale teardown)
	cd $(INFRA_DIR) && ./node_modules/.bin/cdk destroy --no-notices --app ../$(CDK_APP) $(CDK_ARGS) $(STACK_NAME)
	$(GO) run ./cmd/shadowscale teardown --stack $(STACK_NAME) --yes

localstack-moto: build infra-deps ## Deploy the real stack with cdklocal to a moto server it starts (free port) and run the smoke script
	@start=$$(date +%s); localstack/run-moto.sh; echo "localstack-moto: $$(( $$(date +%s) - start )) s"

# A cloud assembly for LocalStack's ready.d hook (the container has no Go):
# no deletion protection, the demo group enrolled by name.
localstack-synth: build infra-app infra-deps
	cd $(INFRA_DIR) && ./node_modules/.bin/cdk synth -q --no-notices --app ../$(CDK_APP) -o $(abspath $(LOCALSTACK_ASSEMBLY)) \
	  -c deletionProtection=false -c groups=$${DEMO_GROUP:-shadowscale-demo} $(CDK_ARGS)

localstack-up: localstack-synth ## Start LocalStack 4.14.0 (docker compose); its ready.d hook deploys the stack with cdklocal
	docker compose -f localstack/docker-compose.yml up -d
	@echo "LocalStack starting; follow the deploy with: docker compose -f localstack/docker-compose.yml logs -f"

localstack-smoke: ## Run the smoke script against AWS_ENDPOINT_URL (default http://localhost:4566)
	AWS_ENDPOINT_URL=$${AWS_ENDPOINT_URL:-http://localhost:4566} python3 localstack/smoke.py --stack $(STACK_NAME)

localstack-down: ## Stop LocalStack
	docker compose -f localstack/docker-compose.yml down

# Parts of `make test`. localstack-moto deploys the real build output, so it
# needs every function's and the agent's source; until they are all in the
# tree it is replaced by a part that says so (and fails nothing).
INFRA_SOURCES := $(foreach f,launch terminate fanout forecaster reconciler,functions/$(f)/main.go) cmd/shadow-agent/main.go
INFRA_MISSING := $(filter-out $(wildcard $(INFRA_SOURCES)),$(INFRA_SOURCES))
TEST_PARTS += infra-test cfn-lint
ifeq ($(INFRA_MISSING),)
TEST_PARTS += localstack-moto
else
TEST_PARTS += localstack-moto-pending
endif

.PHONY: localstack-moto-pending
localstack-moto-pending:
	@echo "localstack-moto: SKIPPED, sources missing: $(INFRA_MISSING)"
