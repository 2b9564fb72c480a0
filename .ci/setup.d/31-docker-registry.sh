#!/usr/bin/env bash
# A Docker registry on loopback for `drucker bundle push` tests (idempotent, quiet when done).
#
# Debian's docker-registry package is the registry binary itself, so no image is downloaded.
# It listens on 127.0.0.1 only; the engine treats loopback registries as insecure-allowed.
set -euo pipefail

ADDRESS="${DRUCKER_TEST_REGISTRY:-127.0.0.1:5555}"
STATE="${DRUCKER_REGISTRY_DIR:-/var/lib/drucker-ci-registry}"
step() { printf '[registry-setup] %s\n' "$*"; }

answers() { python3 -c "import urllib.request,sys; urllib.request.urlopen('http://$ADDRESS/v2/', timeout=2)" 2>/dev/null; }

if ! command -v docker-registry >/dev/null; then
  step "installing docker-registry"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker-registry >/dev/null
  # The package may start its own service on :5000; this script runs its own on $ADDRESS.
  if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl stop docker-registry || true
  fi
fi
if ! answers; then
  step "starting a registry on $ADDRESS"
  mkdir -p "$STATE/data"
  cat >"$STATE/config.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/data
  delete:
    enabled: true
http:
  addr: $ADDRESS
CONFIG
  nohup docker-registry serve "$STATE/config.yml" >"$STATE/registry.log" 2>&1 &
  for _ in $(seq 30); do
    answers && break
    sleep 0.5
  done
  answers || { step "the registry did not answer; its log:"; tail -20 "$STATE/registry.log"; exit 1; }
fi
step "registry on $ADDRESS ready"
