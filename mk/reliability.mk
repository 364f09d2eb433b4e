# Reliability and security (docs/RELIABILITY.md): fault injection, at-least-
# once and ordering scenarios, the log scan, the plane's refusals (all in
# the e2e suite, shared/testing/e2e, so `make e2e` runs them), the control loop under
# bad signals (unit tests), fuzzing (mk/fuzz.mk), and the soak.
# Area: reliability (mk/reliability.mk).

RELIABILITY_E2E := TestLifecycleUnderFaults|TestRunInstancesRetriedAfterItTookEffect|TestRecordWritesRetriedAfterTheyTookEffect|TestForecasterStateSaveRetriedAfterItTookEffect|TestEC2EventsDuplicatedReorderedLate|TestKinesisRedeliveryAfterPartialFailure|TestAgentKilledMidBatch|TestShadowReplacedMidStream|TestNoSecretOrValueInAnyLog|TestPlaneRefusesWhatItDoesNotOwn|TestAgentProcessRefusesUnsignedReplayedOversized

SOAK_FLAGS ?= -rate 1000 -duration 10m
SOAK_SHORT_FLAGS ?= -rate 1000 -duration 45s -window 15s -sample 2s -check-memory=false

.PHONY: reliability soak soak-short fuzz-rss

reliability: ## The reliability and security scenarios against moto (fault injection, ordering, refusals, log scan) and the control loop under bad signals; part of make e2e and make unit already
	$(GO) test -tags e2e -count=1 -timeout 20m -v -run '^($(RELIABILITY_E2E))$$' ./shared/testing/e2e/ | awk '!/^=== (RUN|PAUSE|CONT)/'
	$(GO) test -count=1 -run 'TestGuardrailsUnderBadSignals|TestConditionalWriteRetriedAfterItTookEffect|TestShadowAgentsResyncOfNothing' ./shared/domain/control/ ./shared/adapters/awssdk/ ./shared/agent/

soak: ## Soak: 1,000 mutations/s for 10 minutes against moto with two agents and the fanout bootstrap under the RIE; lag p50/p99 and every process's memory per minute, the accounting, memory flat over the second half (SOAK_FLAGS to change). Not part of make test
	$(GO) run -tags e2e ./shared/testing/e2e/cmd/soak $(SOAK_FLAGS)

soak-short: ## The soak for 45 s (lag and accounting checked, memory printed but not judged: too short); part of make test
	$(GO) run -tags e2e ./shared/testing/e2e/cmd/soak $(SOAK_SHORT_FLAGS)

fuzz-rss: ## Every fuzz target for FUZZTIME (default 60s) with its peak resident set size
	@FUZZ_RSS=1 scripts/fuzz.sh $(FUZZTIME)

# The reliability scenarios run in `e2e` (TEST_PARTS already); the short
# soak is this area's own part.
TEST_PARTS += soak-short
