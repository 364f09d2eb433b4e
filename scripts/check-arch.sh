#!/usr/bin/env bash
# The import rules of docs/CONTRACTS.md ("Layout"), proven with
# `go list -deps` so that an indirect import counts too:
#  1. nothing under shared/domain/ (nor shared/platform/) depends on the AWS
#     SDK, aws-lambda-go, the adapters, the plane, the agent, the simulator
#     or the test harnesses: the domain is pure Go;
#  2. only the AWS adapters, the plane, the producer library (the Kinesis
#     client's PutRecords, nothing of aws-lambda-go) and the test harnesses
#     may depend on the AWS SDK or aws-lambda-go: the agent and the
#     simulator may not.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
status=0

check() { # check RULE PACKAGES... (reads $forbidden)
  local rule=$1 pkg bad n=0
  shift
  for pkg in "$@"; do
    n=$((n + 1))
    bad=$(go list -deps "$pkg" | grep -E "$forbidden" || true)
    if [[ -n $bad ]]; then
      echo "check-arch: $pkg breaks the rule '$rule'; it depends on:" >&2
      echo "$bad" | sed 's/^/  /' >&2
      status=1
    fi
  done
  echo "check-arch: $n packages checked: $rule"
}

forbidden="^github.com/aws/aws-sdk-go-v2|^github.com/aws/aws-lambda-go|^$mod/shared/(adapters|plane|agent|sim|testing)(/|$)"
# shellcheck disable=SC2046
check "shared/domain and shared/platform import no AWS library, adapter, plane, agent, simulator or harness" \
  $(go list ./shared/domain/... ./shared/platform/...)

forbidden='^github.com/aws/aws-sdk-go-v2|^github.com/aws/aws-lambda-go'
# shellcheck disable=SC2046
check "outside shared/adapters/awssdk, shared/plane, shared/testing and shared/producer nothing under shared/ imports an AWS library" \
  $(go list ./shared/... | grep -vE "^$mod/shared/(adapters/awssdk|plane|testing|producer)(/|$)")

forbidden="^github.com/aws/aws-lambda-go|^$mod/shared/(adapters|plane|agent|sim|testing)(/|$)"
# shellcheck disable=SC2046
check "shared/producer imports no aws-lambda-go, adapter, plane, agent, simulator or harness" \
  $(go list ./shared/producer/...)
exit $status
