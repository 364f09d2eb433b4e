# The simulation report (shared/sim/report, cmd/shadowscale simulate) in a
# real headless browser: cmd/shadowscale's browser-tagged test writes a
# report of a small trace, has chromium load it (every figure's image, every
# SVG decoded) and takes a screenshot. Without chromium it is skipped with a
# message, unless SHADOWSCALE_REQUIRE_BROWSER is set: CI sets it
# (.ci/browser-setup.sh installs Debian's chromium).
CHROMIUM ?= $(firstword $(wildcard /usr/bin/chromium) $(shell command -v chromium chromium-browser 2>/dev/null))
# Where the last check's report, DOM and screenshot are kept, to look at.
REPORT_CHECK_OUT ?= $(CURDIR)/.cache/report-check

.PHONY: report-check
TEST_PARTS += report-check

report-check: ## The simulation report in headless chromium: the DOM has every chart, each SVG loads, a screenshot renders (skipped without chromium)
	@if [ -z "$(CHROMIUM)" ]; then \
	  if [ -n "$${SHADOWSCALE_REQUIRE_BROWSER:-}" ]; then \
	    echo "report-check: FAILED: no chromium, and SHADOWSCALE_REQUIRE_BROWSER is set (CI): see .ci/browser-setup.sh"; exit 1; \
	  fi; \
	  echo "report-check: SKIPPED: no chromium (apt-get install chromium, or make report-check CHROMIUM=/path/to/chromium)"; \
	  exit 0; \
	fi; \
	echo "report-check: $(CHROMIUM)"; \
	$(GO) vet -tags browser ./cmd/shadowscale/ && \
	CHROMIUM=$(CHROMIUM) SHADOWSCALE_REPORT_CHECK_OUT=$(REPORT_CHECK_OUT) $(GO) test -tags browser -count=1 -run '^TestReportInABrowser$$' ./cmd/shadowscale/ && \
	echo "report-check: report, DOM and screenshot in $(REPORT_CHECK_OUT)"
