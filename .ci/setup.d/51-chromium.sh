#!/usr/bin/env bash
# Install Debian's chromium for the dashboard's browser tests (idempotent, quiet when done).
#
# Playwright (from PyPI) drives it headless at /usr/bin/chromium; `playwright install` cannot
# download browsers on this network, so the distribution's build is used.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
echo "[chromium-setup] installing chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
