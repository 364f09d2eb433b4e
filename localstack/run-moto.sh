#!/usr/bin/env bash
# CI's stand-in for LocalStack: start a moto server on a free port, deploy
# the real stack to it with cdklocal (localstack/deploy.sh), run the smoke
# script as far as moto goes, and stop the server by its PID.
# Needs `make build` (the assets) and `npm ci` in infra/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

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
