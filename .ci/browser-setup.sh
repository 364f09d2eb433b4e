#!/usr/bin/env bash
# What CI needs for `make report-check`: Debian's chromium, to open the
# simulation report in a real headless browser. Source it from .ci/run:
#   source .ci/browser-setup.sh
# Where /usr/bin/chromium is missing and apt-get exists, installs the
# chromium package (no recommends; as root, or through passwordless sudo),
# and says what it did. Exports SHADOWSCALE_REQUIRE_BROWSER=1, so that
# report-check fails instead of skipping if chromium is still missing.
export SHADOWSCALE_REQUIRE_BROWSER=1

if [ -x /usr/bin/chromium ]; then
  echo "== browser: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium) already installed"
elif command -v apt-get >/dev/null; then
  browser_sudo=""
  if [ "$(id -u)" -ne 0 ]; then browser_sudo="sudo -n"; fi
  echo "== browser: installing chromium (apt-get install --no-install-recommends chromium)"
  browser_t0=$SECONDS
  # The package lists may be missing on a fresh machine: update only then.
  if ! $browser_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
    echo "== browser: apt-get update, then again"
    $browser_sudo apt-get update -qq
    $browser_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
  echo "== browser: installed $(/usr/bin/chromium --version 2>/dev/null) in $((SECONDS - browser_t0)) s"
else
  echo "== browser: no /usr/bin/chromium and no apt-get: make report-check will fail (set CHROMIUM to a chromium)"
fi
