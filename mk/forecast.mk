# The forecaster (shared/domain/forecast, shared/sim/forecastbench, cmd/shadowscale
# forecast and bench forecast): the accuracy benchmark and Go benchmarks.
# Its tests run with the unit tests (go test ./...).

# Where the NAB traces are (shared/data/nab beside the checkout).
NAB_DIR ?= ../shared/data/nab

.PHONY: bench-forecast bench-forecast-go

bench-forecast: ## Forecast accuracy protocol (shared/bench/FORECAST.md) on the NAB traces in NAB_DIR, online forecaster and P10/P90 coverage included
	@ls $(NAB_DIR)/*.csv >/dev/null 2>&1 || { echo "no traces in NAB_DIR=$(NAB_DIR)"; exit 1; }
	$(GO) run ./cmd/shadowscale bench forecast -online -coverage $(NAB_DIR)/*.csv

bench-forecast-go: ## Go benchmarks of the forecaster: default fit-and-forecast on a 7-day 5-minute window (the 5 ms target: the median of the 5 runs), online update+forecast
	$(GO) test -run '^$$' -bench 'Default|Online|Holt|ARIMA' -benchtime 2s -count 5 ./shared/domain/forecast/
