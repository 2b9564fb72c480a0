#!/usr/bin/env bash
# Install Debian's PostgreSQL server binaries (idempotent, quiet when done).
#
# The dashboard's database tests make their own throwaway cluster with initdb/pg_ctl on a free
# loopback port (as the postgres user when run as root), so no cluster is started here.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
echo "[postgresql-setup] installing postgresql"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
# Debian's package creates and starts a default cluster; the tests do not use it.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for version in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster "$version" main stop >/dev/null 2>&1 || true
  done
fi
