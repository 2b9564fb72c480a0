#!/usr/bin/env bash
# curl, for the README's V2 REST examples that tests/wire/test_rest_readme.py runs (idempotent).
set -euo pipefail

if command -v curl >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq curl >/dev/null
echo "[curl-setup] curl installed"
