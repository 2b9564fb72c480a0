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
