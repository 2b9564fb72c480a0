"""Building, tagging and pushing a bundle's image with the Docker SDK.

The dependency stage of the Dockerfile is built on its own and tagged ``NAME:deps-<key>``; the
image is then built from a context of only the application and the model, whose Dockerfile
takes that stage from the tagged image. So no build leaves an untagged (dangling) stage image,
a model-only change sends no wheels and reuses every dependency layer, and an image a rebuild
replaces is removed.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

from drucker.bundle import dockerfile
from drucker.bundle.manifest import Manifest
from drucker.bundle.ports import manifest_ports
from drucker.bundle.system_packages import SYSTEM_DIR
from drucker.errors import ConfigurationError

Progress = Callable[[str], None]
DEPENDENCY_STAGE = "dependencies"
_PROBE = (
    "import os, sys; "
    "print('%d.%d' % sys.version_info[:2], os.confstr('CS_GNU_LIBC_VERSION').split()[-1])"
)


def docker_client() -> Any:
    """A Docker API client from the environment. :raises ConfigurationError: without an engine."""
    try:
        import docker
    except ImportError:
        raise ConfigurationError(
            "building images needs the Docker SDK: pip install 'drucker[bundle]' "
            "(or build with --no-image)"
        ) from None
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigurationError(
            f"no Docker engine is reachable ({reason}); start one, or build with --no-image"
        ) from None
    return client


def image_id(client: Any, reference: str) -> str | None:
    """The id of a local image, or ``None`` when the engine has none by that reference."""
    import docker.errors

    try:
        return str(client.images.get(reference).id)
    except docker.errors.ImageNotFound:
        return None


def image_exists(client: Any, tag: str) -> bool:
    """Whether the engine has an image with this tag."""
    return image_id(client, tag) is not None


@attrs.frozen
class BaseImage:
    """What a bundle needs to know of its base image."""

    reference: str
    id: str
    platform: str
    python: str
    glibc: str


def base_image(client: Any, reference: str, cache: Path) -> BaseImage:
    """Find the base image (pulling it if the engine can) and read its Python and glibc.

    What was read is cached by image id, so it is asked only once per image.

    :raises ConfigurationError: in one line, when the image is neither local nor pullable, or
        has no usable ``python3``.
    """
    import docker.errors

    found = image_id(client, reference)
    if found is None:
        try:
            client.images.pull(reference)
        except docker.errors.DockerException:
            raise ConfigurationError(
                f"base image {reference} is not on this Docker engine and cannot be pulled; "
                "name a local image with --base-image or $DRUCKER_BASE_IMAGE "
                "(.ci/setup.d/10-docker.sh makes drucker-base:bookworm-py311)"
            ) from None
        found = image_id(client, reference)
        assert found is not None
    facts_file = cache / "base-images" / f"{found.replace(':', '-')}.json"
    if facts_file.is_file():
        return BaseImage(**{**json.loads(facts_file.read_text()), "reference": reference})
    attributes = client.images.get(found).attrs
    platform = f"{attributes.get('Os', 'linux')}/{attributes.get('Architecture', 'amd64')}"
    try:
        output = client.containers.run(
            found, ["python3", "-c", _PROBE], remove=True, entrypoint=[], user="0"
        )
        python, glibc = output.decode().split()
    except (docker.errors.DockerException, ValueError) as exc:
        reason = str(exc).splitlines()[0][:200]
        raise ConfigurationError(
            f"base image {reference} has no usable python3 with glibc ({reason})"
        ) from None
    facts = BaseImage(reference, found, platform, python, glibc)
    facts_file.parent.mkdir(parents=True, exist_ok=True)
    facts_file.write_text(json.dumps(attrs.asdict(facts)), encoding="utf-8")
    return facts


def dependency_tag(bundle: Path, manifest: Manifest) -> str:
    """The tag that keeps the dependency stage: the bundle name and a digest of its inputs."""
    digest = hashlib.sha256()
    digest.update((bundle / "requirements.lock").read_bytes())
    digest.update(f"{manifest.base_image}\0{manifest.platform}".encode())
    return f"{manifest.name}:deps-{digest.hexdigest()[:12]}"


IMAGE_CONTEXT = ("app", "model")


def _run_build(client: Any, tag: str, progress: Progress, **options: Any) -> None:
    stream = client.api.build(tag=tag, rm=True, forcerm=True, decode=True, pull=False, **options)
    for chunk in stream:
        if "stream" in chunk:
            text = chunk["stream"].rstrip()
            if text:
                progress(text)
        elif "error" in chunk:
            raise ConfigurationError(f"docker build of {tag} failed: {chunk['error'].strip()}")
    if not image_exists(client, tag):
        raise ConfigurationError(f"docker build of {tag} produced no image")


def _remove_if_untagged(client: Any, ids: Iterable[str | None]) -> None:
    """Remove images a rebuild took the tag from, so that they do not dangle."""
    import docker.errors

    for old in {i for i in ids if i}:
        try:
            if not client.images.get(old).tags:
                client.images.remove(old, noprune=False)
        except docker.errors.DockerException:
            pass  # in use by a container, or gone already


def build_image(
    bundle: Path,
    manifest: Manifest,
    progress: Progress,
    client: Any | None = None,
    *,
    no_cache: bool = False,
    tags: Iterable[str] = (),
) -> str:
    """Build ``NAME:VERSION`` from the bundle directory and add ``tags``.

    A no-op when the image exists already, unless ``no_cache`` asks to install the dependencies
    and build every layer again.

    :raises ConfigurationError: with the build's own error message when the build fails.
    """
    client = client or docker_client()
    if image_exists(client, manifest.tag) and not no_cache:
        progress(f"image {manifest.tag} exists already")
    else:
        dependencies = dependency_tag(bundle, manifest)
        replaced = [image_id(client, manifest.tag), image_id(client, dependencies)]
        if no_cache or not image_exists(client, dependencies):
            progress(f"building the dependency stage {dependencies}")
            _run_build(
                client,
                dependencies,
                progress,
                path=str(bundle),
                platform=manifest.platform,
                target=DEPENDENCY_STAGE,
                nocache=no_cache,
            )
        with tempfile.TemporaryFile() as context:
            ports = manifest_ports(bundle, manifest).exposed()
            text = dockerfile.render(manifest, dependencies, ports)
            _write_image_context(context, bundle, text)
            context.seek(0)
            _run_build(
                client,
                manifest.tag,
                progress,
                fileobj=context,
                custom_context=True,
                platform=manifest.platform,
                nocache=no_cache,
            )
        _remove_if_untagged(client, replaced)
    image = client.images.get(manifest.tag)
    for reference in tags:
        repository, tag = split_reference(reference, manifest.version)
        image.tag(repository, tag)
        progress(f"tagged {manifest.tag} as {repository}:{tag}")
    return manifest.tag


def _write_image_context(out: Any, bundle: Path, text: str) -> None:
    """A tar of the Dockerfile ``text`` with the bundle's application and model directories."""
    with tarfile.open(fileobj=out, mode="w") as tar:
        data = text.encode("utf-8")
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name in IMAGE_CONTEXT:
            tar.add(bundle / name, arcname=name)
        if (bundle / SYSTEM_DIR).is_dir():
            tar.add(bundle / SYSTEM_DIR, arcname=SYSTEM_DIR)


def split_reference(reference: str, default_tag: str) -> tuple[str, str]:
    """``[REGISTRY/]REPOSITORY[:TAG]`` as (repository, tag), the tag defaulting."""
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        return reference, default_tag
    return repository, tag


def push_image(
    client: Any, manifest: Manifest, reference: str, progress: Progress
) -> tuple[str, str]:
    """Tag the bundle's image as ``reference`` and push it with the engine's credentials.

    :raises ConfigurationError: when the image is missing or the registry refuses the push.
    """
    if not image_exists(client, manifest.tag):
        raise ConfigurationError(
            f"no image {manifest.tag} on this engine: run `drucker bundle build` first"
        )
    repository, tag = split_reference(reference, manifest.version)
    client.images.get(manifest.tag).tag(repository, tag)
    digest = ""
    for chunk in client.images.push(repository, tag=tag, stream=True, decode=True):
        if "error" in chunk:
            raise ConfigurationError(f"push of {repository}:{tag} failed: {chunk['error']}")
        status = chunk.get("status", "")
        if chunk.get("aux", {}).get("Digest"):
            digest = chunk["aux"]["Digest"]
        elif status and "id" not in chunk:
            progress(status)
    return f"{repository}:{tag}", digest
