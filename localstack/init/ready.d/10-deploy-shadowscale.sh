#!/usr/bin/env bash
# LocalStack ready.d hook: deploy the shadowscale stack with cdklocal, from
# the cloud assembly `make localstack-up` synthesized on the host
# (build/cdk.out.localstack; the container has no Go toolchain). Node and
# npm are installed into the container on first run when missing.
set -euo pipefail
repo=/opt/shadowscale
assembly=$repo/build/cdk.out.localstack
if [[ ! -f $assembly/manifest.json ]]; then
  echo "shadowscale: $assembly missing: run 'make localstack-synth' (or make localstack-up) on the host" >&2
  exit 1
fi
if ! command -v npm >/dev/null; then
  echo "shadowscale: installing nodejs and npm for cdklocal"
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
work=/tmp/shadowscale-deploy
mkdir -p "$work/infra"
cp "$repo/infra/package.json" "$repo/infra/package-lock.json" "$work/infra/"
(cd "$work/infra" && npm ci --no-audit --no-fund --loglevel=error)
# The deploy script is shared with CI's moto run; here it deploys the
# ready-made assembly (a copy: cdk writes next to it).
rm -rf "$work/cdk.out" && cp -r "$assembly" "$work/cdk.out"
AWS_ENDPOINT_URL=http://localhost:4566 CDK_BIN_DIR="$work/infra/node_modules/.bin" \
  CLOUD_ASSEMBLY="$work/cdk.out" STACK_NAME="${SHADOWSCALE_STACK:-ShadowScale}" \
  bash "$repo/localstack/deploy.sh"
echo "shadowscale: deployed; run 'make localstack-smoke' on the host"
