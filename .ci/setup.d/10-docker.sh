#!/usr/bin/env bash
# Make a Docker engine and a local Python base image available (idempotent, quiet when done).
# Its last line names the image: `drucker bundle build` uses it through $DRUCKER_BASE_IMAGE.
#
# No registry is reachable from CI, so the base image for bundle tests is made from Debian's
# packages: debootstrap a minimal bookworm (its python3 is 3.11) and `docker import` it. The
# root file system is cached as a tarball, so a machine whose image store was wiped re-imports
# it in seconds instead of bootstrapping again.
set -euo pipefail

BASE_IMAGE="${DRUCKER_TEST_BASE_IMAGE:-drucker-base:bookworm-py311}"
CACHE="${DRUCKER_CACHE:-$HOME/.cache/drucker-ci}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
step() { printf '[docker-setup] %s\n' "$*"; }
timed() { local start=$SECONDS; "$@"; step "  done in $((SECONDS - start)) s"; }

install_packages() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io debootstrap >/dev/null
}

start_engine() {
  # The default storage driver (overlay2) and iptables work on these machines.
  nohup dockerd >/var/log/dockerd-ci.log 2>&1 &
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  step "dockerd did not answer within 60 s; its log:"
  tail -20 /var/log/dockerd-ci.log
  return 1
}

bootstrap_rootfs() {
  local root tarball="$1"
  root=$(mktemp -d)
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "$MIRROR" >/dev/null
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
    "$root"/usr/share/locale/* "$root"/var/cache/debconf/*-old
  mkdir -p "$(dirname "$tarball")"
  tar -C "$root" -c . | gzip -1 >"$tarball.tmp"
  mv "$tarball.tmp" "$tarball"
  rm -rf "$root"
}

import_image() {
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$1" "$BASE_IMAGE" >/dev/null
}

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  step "installing docker.io and debootstrap"
  timed install_packages
fi
if ! docker info >/dev/null 2>&1; then
  step "starting the Docker engine"
  timed start_engine
fi
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  tarball="$CACHE/bookworm-py311-rootfs.tar.gz"
  if [ ! -s "$tarball" ]; then
    step "bootstrapping Debian bookworm with python3 (a few minutes, once)"
    timed bootstrap_rootfs "$tarball"
  fi
  step "importing $BASE_IMAGE"
  timed import_image "$tarball"
fi
step "engine $(docker version -f '{{.Server.Version}}'), base image $BASE_IMAGE ready"
step "bundles build on it with: export DRUCKER_BASE_IMAGE=$BASE_IMAGE"
