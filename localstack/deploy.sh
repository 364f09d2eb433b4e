#!/usr/bin/env bash
# Bootstrap and deploy the shadowscale stack with cdklocal to a
# LocalStack-compatible endpoint: LocalStack itself (the ready.d hook), or
# moto server (`make localstack-moto`).
#
#   AWS_ENDPOINT_URL   the endpoint (default http://localhost:4566); use the
#                      host name localhost: moto reads a 127.0.0.1 template
#                      URL's host as a bucket name.
#   CLOUD_ASSEMBLY     a synthesized cloud assembly (cdk.out directory) to
#                      deploy; default: synthesize from infra/ (needs Go).
#   CDK_BIN_DIR        where cdk/cdklocal are (default infra/node_modules/.bin).
#   STACK_NAME         default ShadowScale.
#   DEPLOY_TIMEOUT     seconds to wait for CREATE_COMPLETE (default 900).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

export AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL:-http://localhost:4566}
export AWS_ENDPOINT_URL_S3=${AWS_ENDPOINT_URL_S3:-$AWS_ENDPOINT_URL}
export AWS_S3_FORCE_PATH_STYLE=true
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_DEFAULT_REGION=$AWS_REGION
export CDK_DISABLE_CLI_TELEMETRY=true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=${JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION:-20}
stack=${STACK_NAME:-ShadowScale}
bin=${CDK_BIN_DIR:-$repo/infra/node_modules/.bin}
cdklocal="$bin/cdklocal"
[[ -x $cdklocal ]] || { echo "deploy: $cdklocal missing: run 'npm ci' in infra/" >&2; exit 1; }

app_args=()
if [[ -n ${CLOUD_ASSEMBLY:-} ]]; then
  app_args=(--app "$CLOUD_ASSEMBLY")
  cd "$(dirname "$CLOUD_ASSEMBLY")"
else
  # Synthesize here, for an emulator: no deletion protection, so destroy works.
  cd "$repo/infra"
  mkdir -p "$repo/build/infra"
  go build -o "$repo/build/infra/cdk-app" .
  app_args=(--app "$repo/build/infra/cdk-app" -c deletionProtection=false -c stackName="$stack"
    -c groups="${DEMO_GROUP:-shadowscale-demo}")
fi

account=$(python3 - <<'PY'
import boto3
print(boto3.client("sts").get_caller_identity()["Account"])
PY
)
echo "deploy: endpoint $AWS_ENDPOINT_URL, account $account, region $AWS_REGION, stack $stack"
start=$(date +%s)
"$cdklocal" bootstrap --no-notices "${app_args[@]}" "aws://$account/$AWS_REGION"
boot=$(date +%s)
# --method=direct: CreateStack/UpdateStack, no change set (moto does not
# refresh outputs after executing a change set).
"$cdklocal" deploy --no-notices --require-approval never --method=direct "${app_args[@]}" "$stack"
status=$(python3 - "$stack" "${DEPLOY_TIMEOUT:-900}" <<'PY'
import sys, time, boto3
cfn = boto3.client("cloudformation")
stack, deadline = sys.argv[1], time.time() + float(sys.argv[2])
while True:
    s = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    if not s.endswith("_IN_PROGRESS") or time.time() > deadline:
        print(s)
        break
    time.sleep(2)
PY
)
end=$(date +%s)
echo "deploy: stack $stack $status (bootstrap $((boot - start)) s, deploy $((end - boot)) s)"
[[ $status == CREATE_COMPLETE || $status == UPDATE_COMPLETE ]]
