"""``drucker bundle``: build, store, export, serve and deploy bundles."""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click

from drucker.bundle.files import MAX_FILE_ENV
from drucker.bundle.store import STORE_ENV, BundleStore
from drucker.bundle.target import PLATFORMS
from drucker.errors import ConfigurationError, DruckerError

T = TypeVar("T")


def _store(root: str | None) -> BundleStore:
    return BundleStore(Path(root) if root else None)


def _guard(action: Callable[[], T]) -> T:
    try:
        return action()
    except DruckerError as error:
        click.echo(f"drucker bundle: {error}", err=True)
        sys.exit(2)


store_option = click.option(
    "--store",
    "store_root",
    metavar="DIR",
    envvar=STORE_ENV,
    show_envvar=True,
    help="Bundle store (default: ~/.local/share/drucker/bundles).",
)


@click.group()
def bundle() -> None:
    """Package a plugin and its model as a versioned bundle and Docker image."""


@bundle.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="Bundle name (default: the directory's name).")
def init(directory: Path, name: str | None) -> None:
    """Start a model project in DIRECTORY: bundle.yaml, a plugin, a model and settings.

    Nothing is overwritten: when one of the files exists, nothing is written.
    """
    from drucker.bundle.scaffold import init_project

    directory.mkdir(parents=True, exist_ok=True)
    written = _guard(lambda: init_project(directory, name))
    for path in written:
        click.echo(str(path))
    click.echo(
        f"serve it: cd {directory} && drucker serve --plugin plugin.py --settings settings.yml\n"
        f"bundle it: drucker bundle build {directory}",
        err=True,
    )


@bundle.command()
@click.argument("project", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--bundle-version",
    "version",
    metavar="VERSION",
    help="The bundle's version, i.e. the image tag (default: from the content digest). "
    "drucker's own version is `drucker --version`.",
)
@click.option("--no-image", is_flag=True, help="Store the bundle but build no image.")
@click.option(
    "--base-image",
    metavar="IMAGE",
    help="Base image with python3 (default: bundle.yaml's base_image, else "
    "$DRUCKER_BASE_IMAGE, else python:3.11-slim).",
)
@click.option(
    "--python",
    metavar="X.Y",
    help="Python of the image (default: bundle.yaml's python, else read from the base image).",
)
@click.option(
    "--platform",
    type=click.Choice(sorted(PLATFORMS)),
    help="Platform of the image (default: bundle.yaml's platform, else linux/amd64).",
)
@click.option(
    "--no-cache", is_flag=True, help="Resolve the requirements again and rebuild every layer."
)
@click.option(
    "--tag",
    "tags",
    metavar="REF",
    multiple=True,
    help="Another tag for the image, e.g. registry.example.com/team/iris:1.0 (repeatable).",
)
@click.option(
    "--no-smoke",
    is_flag=True,
    help="Skip the smoke start (run the image once and wait for it to serve).",
)
@click.option(
    "--max-file-size",
    "max_file_size",
    metavar="SIZE",
    envvar=MAX_FILE_ENV,
    show_envvar=True,
    help="Largest file of the project taken into the bundle, e.g. 500MiB (default 4GiB).",
)
@store_option
def build(
    project: Path,
    version: str | None,
    no_image: bool,
    base_image: str | None,
    python: str | None,
    platform: str | None,
    no_cache: bool,
    tags: tuple[str, ...],
    no_smoke: bool,
    max_file_size: str | None,
    store_root: str | None,
) -> None:
    """Build the bundle of PROJECT (a directory with bundle.yaml) and its image.

    Wheels are resolved for the image's Python and platform, not this host's, and the
    resolution is reused while the requirements, target and index settings stay the same.
    Every path bundle.yaml names must stay inside PROJECT (symlinks included) and be a
    regular file (or a directory of them) of at most --max-file-size.
    The image is then started once and must serve (--no-smoke skips that).
    The last line of standard output is the image tag NAME:VERSION.
    """
    from drucker.bundle.build import assemble, choose_base_image, choose_target
    from drucker.bundle.files import parse_size
    from drucker.bundle.image import base_image as inspect_base
    from drucker.bundle.image import build_image, docker_client
    from drucker.bundle.smoke import smoke_start
    from drucker.bundle.spec import load_spec
    from drucker.bundle.system_packages import debian_base

    def report(message: str) -> None:
        click.echo(message, err=True)

    started = time.monotonic()
    store = _store(store_root)
    limit = _guard(lambda: parse_size(max_file_size or "4GiB"))
    spec = _guard(lambda: load_spec(project, limit))
    base = choose_base_image(spec, base_image)
    client = None
    system_base = None
    if no_image:
        target = _guard(lambda: choose_target(spec, base, python=python, platform=platform))
    else:
        # Everything the image build needs is checked before anything is resolved.
        client = _guard(docker_client)
        facts = _guard(lambda: inspect_base(client, base, store.cache_dir))
        target = _guard(
            lambda: choose_target(
                spec,
                base,
                python=python,
                platform=platform,
                image_python=facts.python,
                image_glibc=facts.glibc,
            )
        )
        if facts.platform != target.platform:
            _guard(
                lambda: _fail(
                    f"base image {base} is {facts.platform}, the bundle is for "
                    f"{target.platform}: give a {target.platform} base image, or --no-image"
                )
            )
        if spec.system_packages:
            system_base = _guard(lambda: debian_base(client, base, store.cache_dir))
    report(f"building for {target.describe()} on {base}")
    result = _guard(
        lambda: assemble(
            project,
            store,
            version=version,
            base_image=base,
            target=target,
            refresh=no_cache,
            max_file_bytes=limit,
            system_base=system_base,
            progress=report,
        )
    )
    state = "stored" if result.created else "unchanged (already stored)"
    report(f"bundle {result.manifest.tag} {state} in {result.path}")
    if client is not None:
        _guard(
            lambda: build_image(
                result.path, result.manifest, report, client, no_cache=no_cache, tags=tags
            )
        )
        if not no_smoke:
            _guard(lambda: smoke_start(client, result.manifest, report, spec.smoke_input))
        report(f"image {result.manifest.tag} ready ({time.monotonic() - started:.1f} s)")
        for line in _guard(lambda: _left_behind(client, store, result.manifest)):
            report(line)
    click.echo(result.manifest.tag)


def _fail(message: str) -> None:
    raise ConfigurationError(message)


def _left_behind(client: Any, store: BundleStore, manifest: Any) -> list[str]:
    """What a build leaves on the engine, and how to remove it."""
    from drucker.bundle.cleanup import bundle_references, describe_bytes, unused_images
    from drucker.bundle.image import image_id

    kept = []
    for reference in sorted(bundle_references(store, manifest)):
        if image_id(client, reference) is not None:
            size = int(client.images.get(reference).attrs.get("Size", 0))
            kept.append(f"{reference} ({describe_bytes(size)})")
    lines = [
        f"left on the engine: {', '.join(kept)}; `drucker bundle delete {manifest.tag}` "
        "removes them with the bundle"
    ]
    unused = unused_images(client, store, [manifest.name])
    if unused:
        total = describe_bytes(sum(image.size for image in unused))
        listed = ", ".join(image.reference for image in unused)
        lines.append(
            f"{len(unused)} images of {manifest.name} no stored bundle uses ({listed}; {total}): "
            f"`drucker bundle prune {manifest.name}` removes them"
        )
    return lines


@bundle.command()
@click.argument("tag")
@click.argument("reference", metavar="REF")
@store_option
def push(tag: str, reference: str, store_root: str | None) -> None:
    """Push the image of NAME:VERSION as REF ([REGISTRY/]REPOSITORY[:TAG]).

    The engine's credentials are used (`docker login`); REF's tag defaults to the version.
    Prints the pushed reference and its digest.
    """
    from drucker.bundle.image import docker_client, push_image

    _, manifest = _guard(lambda: _store(store_root).get(tag))
    client = _guard(docker_client)
    pushed, digest = _guard(
        lambda: push_image(client, manifest, reference, lambda m: click.echo(m, err=True))
    )
    click.echo(f"{pushed}@{digest}" if digest else pushed)


@bundle.command(name="list")
@store_option
def list_bundles(store_root: str | None) -> None:
    """List stored bundles."""
    for manifest in _guard(lambda: _store(store_root).list()):
        click.echo(f"{manifest.tag}\t{manifest.created}\t{manifest.digest[:16]}")


@bundle.command()
@click.argument("tag")
@store_option
def show(tag: str, store_root: str | None) -> None:
    """Print a bundle's manifest as JSON (NAME for the newest version)."""
    path, manifest = _guard(lambda: _store(store_root).get(tag))
    data: dict[str, Any] = attrs.asdict(manifest)
    data["path"] = str(path)
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@bundle.command()
@click.argument("tag")
@click.option("--keep-images", is_flag=True, help="Leave the bundle's Docker images.")
@store_option
def delete(tag: str, keep_images: bool, store_root: str | None) -> None:
    """Delete NAME:VERSION from the store, and its Docker images that no other stored bundle
    uses: NAME:VERSION with its other tags, and its dependency stage NAME:deps-KEY."""
    from drucker.bundle.image import dependency_tag

    store = _store(store_root)
    path, found = _guard(lambda: store.get(tag))
    stage = dependency_tag(path, found) if (path / "requirements.lock").is_file() else ""
    manifest = _guard(lambda: store.delete(tag))
    click.echo(f"deleted {manifest.tag}")
    if keep_images:
        return
    client, reason = _engine()
    if client is None:
        click.echo(f"its images were left: {reason}", err=True)
        return
    from drucker.bundle.cleanup import images_of_deleted, remove_images

    for line in remove_images(client, images_of_deleted(client, manifest, stage, store)):
        click.echo(line)


def _engine() -> tuple[Any | None, str]:
    """A Docker client, or None and why there is none."""
    from drucker.bundle.image import docker_client

    try:
        return docker_client(), ""
    except ConfigurationError as error:
        return None, str(error)


@bundle.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@store_option
def prune(names: tuple[str, ...], dry_run: bool, store_root: str | None) -> None:
    """Remove the Docker images of bundles that no stored bundle uses.

    That is, images NAME:VERSION of a bundle no longer in the store (with their other tags),
    and dependency stages NAME:deps-KEY no stored bundle's requirements make, for the bundle
    names of the store, or only the NAMEs given. Images of these names built from another
    store count as unused.
    """
    from drucker.bundle.cleanup import describe_bytes, remove_images, unused_images
    from drucker.bundle.image import docker_client
    from drucker.bundle.spec import validate_bundle_name

    for name in names:
        _guard(functools.partial(validate_bundle_name, name))
    store = _store(store_root)
    client = _guard(docker_client)
    unused = _guard(lambda: unused_images(client, store, names or None))
    if dry_run:
        for image in unused:
            click.echo(f"would remove image {image.reference} ({describe_bytes(image.size)})")
        return
    for line in remove_images(client, unused):
        click.echo(line)
    if not unused:
        click.echo("no unused images", err=True)


@bundle.command(name="export")
@click.argument("tag")
@click.argument("archive", type=click.Path(dir_okay=False))
@store_option
def export_bundle(tag: str, archive: str, store_root: str | None) -> None:
    """Write NAME:VERSION as one archive file."""
    manifest = _guard(lambda: _store(store_root).export(tag, Path(archive)))
    click.echo(f"exported {manifest.tag} to {archive}")


@bundle.command(name="import")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@store_option
def import_bundle(archive: str, store_root: str | None) -> None:
    """Add an exported bundle to the store, verified against its manifest."""
    manifest = _guard(lambda: _store(store_root).import_archive(Path(archive)))
    click.echo(manifest.tag)


@bundle.command()
@click.argument("tag")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: the bundle's).")
@store_option
def serve(tag: str, port: int | None, store_root: str | None) -> None:
    """Serve a stored bundle here, without Docker (its requirements must be installed)."""
    from drucker.server.lifecycle import ServeOptions, run

    store = _store(store_root)
    path, manifest = _guard(lambda: store.get(tag))
    state = store.root / ".state" / manifest.name
    os.environ.setdefault("DRUCKER_SERVICE_MODEL_DIR", str(state / "model"))
    os.environ.setdefault("DRUCKER_SERVICE_EVAL_DIR", str(state / "eval"))
    sys.path.insert(0, str(path / "app"))
    plugin = str(path / manifest.plugin) if manifest.plugin.endswith(".py") else manifest.plugin
    options = ServeOptions(
        plugin=plugin,
        settings_file=str(path / manifest.settings),
        model_file=str(path / manifest.model) if manifest.model else None,
        port=port if port is not None else manifest.port,
    )
    sys.exit(run(options))


@bundle.command()
@click.argument("tag")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="File (default: stdout).")
@click.option("--image", help="Image reference (default NAME:VERSION), e.g. with a registry.")
@click.option(
    "--replicas",
    default=2,
    show_default=True,
    type=click.IntRange(1),
    help="The autoscaler's minimum number of pods.",
)
@click.option(
    "--max-replicas",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    help="The autoscaler's maximum number of pods.",
)
@click.option(
    "--store-url",
    help="A model store shared by the replicas (s3://bucket/prefix, gs://…): uploads and "
    "switches through any pod reach all of them.",
)
@click.option(
    "--store-secret",
    metavar="NAME",
    help="Secret whose keys become the store's credentials (e.g. AWS_ACCESS_KEY_ID).",
)
@click.option(
    "--separate-stores",
    is_flag=True,
    help="Write more than one replica without --store-url anyway: each pod keeps its own "
    "model store, so change models only with a new image.",
)
@click.option(
    "--startup-seconds",
    default=300,
    show_default=True,
    type=click.IntRange(1),
    help="How long a pod may take to load its model before it is restarted (startupProbe).",
)
@click.option("--cpu", default="500m", show_default=True, help="CPU request of a replica.")
@click.option("--memory", default="512Mi", show_default=True, help="Memory request of a replica.")
@click.option("--cpu-limit", default="2", show_default=True)
@click.option("--memory-limit", default="1Gi", show_default=True)
@click.option(
    "--token-secret",
    metavar="NAME",
    help="Secret whose key 'token' is the management token (default: NAME-management-token).",
)
@store_option
def k8s(
    tag: str,
    output: str | None,
    image: str | None,
    replicas: int,
    max_replicas: int,
    store_url: str | None,
    store_secret: str | None,
    separate_stores: bool,
    startup_seconds: int,
    cpu: str,
    memory: str,
    cpu_limit: str,
    memory_limit: str,
    token_secret: str | None,
    store_root: str | None,
) -> None:
    """Write Kubernetes manifests for a bundle's image.

    ServiceAccount, Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget,
    meeting the restricted Pod Security Standard. More than one replica needs --store-url (a
    store they share; the bundle needs drucker[s3] or drucker[gcs] for it) or
    --separate-stores. The management token is read from a Secret; make it first, e.g.
    `kubectl create secret generic NAME-management-token --from-literal=token=$(openssl rand
    -hex 32)`.
    """
    from drucker.bundle.k8s import check_store, manifests, render, token_secret_name
    from drucker.bundle.ports import manifest_ports

    if store_secret and not store_url:
        raise click.UsageError("--store-secret needs --store-url")
    path, manifest = _guard(lambda: _store(store_root).get(tag))
    warnings = _guard(
        lambda: check_store(
            manifest, store_url, replicas, max_replicas, separate_stores=separate_stores
        )
    )
    for warning in warnings:
        click.echo(warning, err=True)
    ports = _guard(lambda: manifest_ports(path, manifest))
    resources = manifests(
        manifest,
        image=image,
        replicas=replicas,
        max_replicas=max_replicas,
        store_url=store_url,
        store_secret=store_secret,
        cpu=cpu,
        memory=memory,
        cpu_limit=cpu_limit,
        memory_limit=memory_limit,
        token_secret=token_secret,
        ports=ports,
        startup_seconds=startup_seconds,
    )
    click.echo(
        f"the pods read the management token from Secret "
        f"{token_secret or token_secret_name(manifest)} (key 'token')",
        err=True,
    )
    text = render(resources)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
