#!/usr/bin/env bash
# Runs every fuzz target of the module for the given time each. Targets are
# found with `go test -list`, so a new FuzzXxx is picked up on its own.
# New crashers land in the package's testdata/fuzz and fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-60s}
found=0
# Packages whose tests declare a fuzz target (skip node_modules and the like).
dirs=$(grep -rl --include='*_test.go' --exclude-dir=node_modules --exclude-dir=infra -E '^func Fuzz[A-Z]' . | xargs -r -n1 dirname | sort -u)
for dir in $dirs; do
  pkg=$(go list "$dir")
  for target in $(grep -h -o -E '^func Fuzz[A-Za-z0-9_]+' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
    found=$((found + 1))
    echo "== fuzz $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
  done
done
echo "fuzz: $found targets, $fuzztime each, no failures"
