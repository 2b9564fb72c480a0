"""Building a bundle's image with the Docker SDK, streaming the build's progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from drucker.bundle.manifest import Manifest
from drucker.errors import ConfigurationError


def docker_client() -> Any:
    """A Docker API client from the environment. :raises ConfigurationError: without an engine."""
    try:
        import docker
    except ImportError:
        raise ConfigurationError(
            "building images needs the Docker SDK: pip install 'drucker[bundle]'"
        ) from None
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        raise ConfigurationError(f"no Docker engine is reachable: {exc}") from None
    return client


def image_exists(client: Any, tag: str) -> bool:
    """Whether the engine has an image with this tag."""
    import docker.errors

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def build_image(
    bundle: Path, manifest: Manifest, progress: Callable[[str], None], client: Any | None = None
) -> str:
    """Build ``NAME:VERSION`` from the bundle directory; a no-op when it exists already.

    :raises ConfigurationError: with the build's own error message when the build fails.
    """
    client = client or docker_client()
    if image_exists(client, manifest.tag):
        progress(f"image {manifest.tag} exists already")
        return manifest.tag
    stream = client.api.build(
        path=str(bundle), tag=manifest.tag, rm=True, forcerm=True, decode=True, pull=False
    )
    for chunk in stream:
        if "stream" in chunk:
            text = chunk["stream"].rstrip()
            if text:
                progress(text)
        elif "error" in chunk:
            raise ConfigurationError(f"docker build of {manifest.tag} failed: {chunk['error']}")
    if not image_exists(client, manifest.tag):
        raise ConfigurationError(f"docker build of {manifest.tag} produced no image")
    return manifest.tag
