#!/usr/bin/env bash
# CI's stand-in for LocalStack: start a moto server on a free port, deploy
# the real stack to it with cdklocal (localstack/deploy.sh), run the smoke
# script as far as moto goes (the launch function under the Lambda Runtime
# Interface Emulator included), and stop the server by its PID.
# Needs `make build` (the assets and bootstraps), `npm ci` in infra/, and Go
# (to install the emulator once). SMOKE_RIE=0 skips the emulator part.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

# The emulator, where the e2e harness installs it (same pinned version as
# RIEModule in shared/testing/e2e/harness/rie.go; infra's tests check they agree).
# Kept out of go.mod on purpose (see docs/PLANE.md).
rie_module=github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
if [[ ${SMOKE_RIE:-auto} != 0 ]]; then
  if [[ -z ${AWS_LAMBDA_RIE:-} ]]; then
    AWS_LAMBDA_RIE="$repo/.cache/tools/aws-lambda-rie"
    if [[ ! -x $AWS_LAMBDA_RIE ]]; then
      echo "run-moto: installing the Lambda Runtime Interface Emulator into .cache/tools ($rie_module)"
      mkdir -p "$repo/.cache/tools"
      # Outside the module: `go install pkg@version` ignores go.mod there.
      if ! (cd "${TMPDIR:-/tmp}" && GOBIN="$repo/.cache/tools" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install "$rie_module"); then
        echo "run-moto: could not install the emulator; SMOKE_RIE=0 skips the launch function under it" >&2
        exit 1
      fi
    fi
  fi
  export AWS_LAMBDA_RIE
  # The smoke script must then run the launch function, not skip it.
  export SMOKE_RIE=1
fi

python3 -c 'import moto' 2>/dev/null || { echo "run-moto: python moto missing: pip install 'moto[server]'" >&2; exit 1; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
log=$(mktemp -t moto-infra.XXXXXX.log)
moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
cleanup() {
  local status=$?
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  if [[ $status -eq 0 ]]; then rm -f "$log"; else echo "run-moto: moto server log kept in $log" >&2; fi
}
trap cleanup EXIT
export AWS_ENDPOINT_URL="http://localhost:$port"
for _ in $(seq 1 100); do
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/moto-api/config", timeout=1)' "$AWS_ENDPOINT_URL" 2>/dev/null; then
    break
  fi
  kill -0 "$moto_pid" 2>/dev/null || { echo "run-moto: moto server exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.2
done
echo "run-moto: moto server pid $moto_pid on $AWS_ENDPOINT_URL (log $log)"

"$here/deploy.sh"
python3 "$here/smoke.py"
