#!/usr/bin/env bash
# The domain packages under shared/ must not depend on the AWS SDK or on
# aws-lambda-go: only the adapters and the Lambda handlers may. Proven with
# `go list -deps`, so an indirect import counts too.
set -euo pipefail
cd "$(dirname "$0")/.."
# Packages allowed to use AWS libraries: the SDK adapters and the handlers.
allowed='/shared/adapters/awssdk($|/)|/shared/handlers($|/)|/shared/lambdaenv($|/)'
forbidden='^github.com/aws/aws-sdk-go-v2|^github.com/aws/aws-lambda-go'
status=0
checked=0
for pkg in $(go list ./shared/...); do
  if [[ $pkg =~ $allowed ]]; then continue; fi
  checked=$((checked + 1))
  bad=$(go list -deps "$pkg" | grep -E "$forbidden" || true)
  if [[ -n $bad ]]; then
    echo "check-arch: domain package $pkg depends on AWS libraries:" >&2
    echo "$bad" | sed 's/^/  /' >&2
    status=1
  fi
done
if [[ $status -eq 0 ]]; then
  echo "check-arch: $checked domain packages under shared/ import no aws-sdk-go-v2 and no aws-lambda-go"
fi
exit $status
