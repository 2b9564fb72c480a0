"""Docker for tests: skip without an engine (a skip fails the run in CI: see conftest)."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from tests.conftest import REPO

DEFAULT_BASE_IMAGE = "drucker-base:bookworm-py311"


def docker_client() -> tuple[Any | None, str]:
    """A client for a reachable engine, or None and the reason."""
    try:
        import docker
    except ImportError:
        return None, "the docker SDK is not installed"
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        return None, f"no Docker engine is reachable ({exc})"
    return client, ""


def require_docker() -> Any:
    """The Docker client; skips the test without an engine."""
    client, reason = docker_client()
    if client is None:
        pytest.skip(reason)
    return client


def base_image(client: Any) -> str:
    """The local base image for bundle builds, made by .ci/setup.d/10-docker.sh when missing."""
    import docker.errors

    tag = os.environ.get("DRUCKER_TEST_BASE_IMAGE", DEFAULT_BASE_IMAGE)
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        subprocess.run(["bash", str(REPO / ".ci" / "setup.d" / "10-docker.sh")], check=True)
    return tag


DEFAULT_REGISTRY = "127.0.0.1:5555"


def registry_answers(address: str) -> bool:
    """Whether a Docker registry answers its API root at ``address``."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=2):
            return True
    except OSError:
        return False


def registry() -> str:
    """A registry on loopback, started by .ci/setup.d/31-docker-registry.sh when missing."""
    address = os.environ.get("DRUCKER_TEST_REGISTRY", DEFAULT_REGISTRY)
    if not registry_answers(address):
        script = REPO / ".ci" / "setup.d" / "31-docker-registry.sh"
        result = subprocess.run(["bash", str(script)], capture_output=True, text=True)
        if result.returncode != 0 or not registry_answers(address):
            pytest.skip(f"no registry on {address}: {result.stdout[-300:]}{result.stderr[-300:]}")
    return address
