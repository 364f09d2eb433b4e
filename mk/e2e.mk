# End-to-end suite of the control plane, and local invocations of the
# functions under the Lambda Runtime Interface Emulator, against moto server.
# Area: plane (mk/e2e.mk). Needs python3 with moto[server] (moto_server);
# builds the emulator once into .cache/tools (go install, pinned version).
#
# Every e2e package runs at the same time against ONE server: the moto that
# withmoto starts, or the endpoint in AWS_ENDPOINT_URL (a moto started
# beforehand, LocalStack). No test depends on a server of its own: each
# works in a namespace (its world) and never resets the server (see the
# package doc of shared/testing/e2e/harness).

E2E_PKGS := ./shared/adapters/awssdk/ ./shared/testing/e2e/...
E2E_FLAGS := -tags e2e -count=1 -timeout 30m -v
WITH_MOTO := $(GO) run -tags e2e ./shared/testing/e2e/cmd/withmoto -log .cache/e2e/moto.log --

.PHONY: e2e e2e-own lag lag-rie plan-check

e2e: ## End-to-end suite, every package at once against one moto server it starts (or AWS_ENDPOINT_URL): AWS adapters, handlers, the CLI, real agents and bootstraps under the Lambda RIE; prints its figures
	@start=$$(date +%s); \
	$(WITH_MOTO) $(GO) test $(E2E_FLAGS) $(E2E_PKGS) | awk '!/^=== (RUN|PAUSE|CONT)/'; \
	echo "e2e: $$(( $$(date +%s) - start )) s"

e2e-own: ## The same with a moto server of its own per package (what `go test -tags e2e ./shared/testing/e2e/` does), AWS_ENDPOINT_URL ignored
	@start=$$(date +%s); \
	env -u AWS_ENDPOINT_URL $(GO) test $(E2E_FLAGS) $(E2E_PKGS) | awk '!/^=== (RUN|PAUSE|CONT)/'; \
	echo "e2e-own: $$(( $$(date +%s) - start )) s"

invoke-%: ## Run one function (invoke-launch, -terminate, -reconciler, -fanout, -forecaster) under the RIE with its sample event against a moto it starts; prints the answer and logs
	$(GO) run -tags e2e ./shared/testing/e2e/cmd/invoke -fn $*

LAG_FLAGS ?= -rate 1000 -duration 60s

lag: ## Replication lag end to end against moto with two agents: 1,000 mutations/s for 60 s through Kinesis and the fanout (in process); prints p50/p99 and the accounting (LAG_FLAGS to change)
	$(GO) run -tags e2e ./shared/testing/e2e/cmd/lag $(LAG_FLAGS)

lag-rie: ## The same with the real fanout bootstrap under the Lambda RIE (one per shard)
	$(GO) run -tags e2e ./shared/testing/e2e/cmd/lag -rie $(LAG_FLAGS)

plan-check: ## TestPlanAgreesWithTheMeasuredCalls with every row held to 10%, the poller's too (run it on a quiet machine; make e2e holds the rest)
	SHADOWSCALE_PLAN_STRICT=1 $(WITH_MOTO) $(GO) test $(E2E_FLAGS) -run TestPlanAgreesWithTheMeasuredCalls ./shared/testing/e2e/

TEST_PARTS += e2e
