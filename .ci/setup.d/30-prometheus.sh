#!/usr/bin/env bash
# Install the Prometheus server binary for tests/system/test_metrics_prometheus.py (idempotent).
#
# The tests start their own Prometheus on a free loopback port with their own configuration and
# storage directory, so the service that Debian's package starts on port 9090 is stopped and
# disabled: nothing keeps running after the install.
set -euo pipefail

step() { printf '[prometheus-setup] %s\n' "$*"; }

if ! command -v prometheus >/dev/null; then
  step "installing Debian's prometheus package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d 101 keeps the package's service from being started by the install.
  policy=/usr/sbin/policy-rc.d
  created_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=true
  fi
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if $created_policy; then rm -f "$policy"; fi
fi
# If a service manager started the packaged instance anyway, stop it and keep it off.
if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
if command -v service >/dev/null && service prometheus status >/dev/null 2>&1; then
  service prometheus stop >/dev/null 2>&1 || true
fi
step "$(prometheus --version 2>&1 | head -1)"
