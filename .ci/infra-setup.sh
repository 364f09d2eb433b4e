#!/usr/bin/env bash
# What CI needs for the infra parts of `make test` (infra-test, cfn-lint,
# localstack-moto). Source it from .ci/run so the exports stay:
#   source .ci/infra-setup.sh
# Installs the pinned CDK CLI and cdklocal (npm ci in infra/), the Go
# modules of the CDK app (its own module), and checks cfn-lint and moto.
# The Lambda Runtime Interface Emulator is not installed here:
# localstack/run-moto.sh (and the e2e harness) `go install` it once into
# .cache/tools at its pinned version, through the Go module proxy.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Node 20 is end-of-life for jsii: silence its banner; the CLI's telemetry off.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
export CDK_DISABLE_CLI_TELEMETRY=true

echo "== infra: npm ci (aws-cdk, aws-cdk-local)"
(cd "$repo/infra" && npm ci --no-audit --no-fund --loglevel=error)

echo "== infra: go modules of the CDK app"
(cd "$repo/infra" && go mod download)

if ! command -v cfn-lint >/dev/null; then
  echo "== infra: installing cfn-lint"
  pip install --quiet cfn-lint
fi
if ! python3 -c 'import moto, flask, flask_cors' 2>/dev/null; then
  echo "== infra: installing moto server"
  pip install --quiet 'moto[server]'
fi
if ! python3 -c 'import boto3' 2>/dev/null; then
  pip install --quiet boto3
fi
