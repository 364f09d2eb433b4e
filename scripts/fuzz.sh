#!/usr/bin/env bash
# Runs every fuzz target of the module for the given time each. Targets are
# found by their `func FuzzXxx` declarations, so a new one is picked up on
# its own. A crasher lands in the package's testdata/fuzz/FuzzXxx and fails
# the run. A failure that leaves no crasher behind (the fuzzing engine lost a
# worker, e.g. on a starved machine) is retried once and reported; a second
# such failure fails the run, except Go's own race at the end of a
# duration -fuzztime: "context deadline exceeded" with no crasher
# (golang/go#75804, fixed after Go 1.26), which is reported and not held
# against the target, since it found nothing.
# Each minimization (of a new interesting input, or of a crasher) runs the
# target at most FUZZ_MINIMIZE times (-fuzzminimizetime, 50x by default):
# with Go's default of 60 s, a package whose seeds are large (a whole
# Lambda event) spent its short run minimizing, not fuzzing (57 executions
# in 10 s, against 3,410 with 50x). A crasher is still kept, less
# minimized.
# With FUZZ_RSS=1 (and GNU time installed) each run's peak resident set
# size (the largest of go test, the test binary and its fuzzing workers)
# is printed after it and in a summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-60s}
minimize=${FUZZ_MINIMIZE:-50x}
found=0
rss_report=""
timed=()
out=$(mktemp)
trap 'rm -f "$out" ${rss_report:+"$rss_report"}' EXIT
if [ -n "${FUZZ_RSS:-}" ] && [ -x /usr/bin/time ]; then
  rss_report=$(mktemp)
fi
races=0
count() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
# Packages whose tests declare a fuzz target (skip node_modules and infra).
dirs=$(grep -rl --include='*_test.go' --exclude-dir=node_modules --exclude-dir=infra -E '^func Fuzz[A-Z]' . | xargs -r -n1 dirname | sort -u)
for dir in $dirs; do
  pkg=$(go list "$dir")
  for target in $(grep -h -o -E '^func Fuzz[A-Za-z0-9_]+' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
    found=$((found + 1))
    corpus="$dir/testdata/fuzz/$target"
    before=$(count "$corpus")
    echo "== fuzz $pkg $target ($fuzztime)"
    if [ -n "$rss_report" ]; then
      timed=(/usr/bin/time -a -o "$rss_report" -f "$pkg $target peak RSS %M KiB, %e s")
    fi
    if "${timed[@]}" go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg"; then
      if [ -n "$rss_report" ]; then tail -n 1 "$rss_report"; fi
      continue
    fi
    after=$(count "$corpus")
    if [ "$after" -gt "$before" ]; then
      echo "fuzz: $target found a failing input, kept in $corpus" >&2
      exit 1
    fi
    echo "fuzz: $target failed without a failing input (engine error); retrying once" >&2
    if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg" 2>&1 | tee "$out"; then
      continue
    fi
    if [ "$(count "$corpus")" -gt "$before" ]; then
      echo "fuzz: $target found a failing input, kept in $corpus" >&2
      exit 1
    fi
    if grep -q '^    context deadline exceeded$' "$out"; then
      echo "fuzz: $target: Go's fuzzing coordinator raced its -fuzztime deadline again (golang/go#75804): no failing input, not held against the target" >&2
      races=$((races + 1))
      continue
    fi
    echo "fuzz: $target failed twice without a failing input" >&2
    exit 1
  done
done
echo "fuzz: $found targets, $fuzztime each, no failures ($races runs ended by Go's deadline race, golang/go#75804)"
if [ -n "$rss_report" ]; then
  echo "fuzz: peak resident set size per target (the largest of go test, the test binary and its workers):"
  sed 's/^/  /' "$rss_report"
fi
