# Fuzzing: every `func FuzzXxx` of the module, each for FUZZTIME.
FUZZTIME ?= 60s
FUZZTIME_SHORT ?= 5s

.PHONY: fuzz fuzz-short

fuzz: ## Run every fuzz target for FUZZTIME each (default 60s)
	@scripts/fuzz.sh $(FUZZTIME)

fuzz-short: ## Run every fuzz target briefly (FUZZTIME_SHORT each; part of make test)
	@scripts/fuzz.sh $(FUZZTIME_SHORT)

TEST_PARTS += fuzz-short
