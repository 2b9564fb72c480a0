"""``drucker bundle``: build, store, export, serve and deploy bundles."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from drucker.bundle.files import MAX_FILE_ENV
from drucker.bundle.store import BundleStore
from drucker.bundle.target import PLATFORMS
from drucker.cli._bundle_support import guard, no_smoke_option, open_store, store_option
from drucker.cli.bundle_k8s import k8s
from drucker.cli.bundle_store import (
    STORE_COMMANDS,
    delete,
    export_bundle,
    import_bundle,
    list_bundles,
    prune,
    show,
)
from drucker.errors import ConfigurationError

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "build",
    "bundle",
    "delete",
    "export_bundle",
    "import_bundle",
    "init",
    "k8s",
    "list_bundles",
    "prune",
    "push",
    "serve",
    "show",
    "store_option",
]


@click.group()
def bundle() -> None:
    """Package a plugin and its model as a versioned bundle and Docker image."""


for _command in (*STORE_COMMANDS, k8s):
    bundle.add_command(_command)


@bundle.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="Bundle name (default: the directory's name).")
def init(directory: Path, name: str | None) -> None:
    """Start a model project in DIRECTORY: bundle.yaml, a plugin, a model and settings.

    Nothing is overwritten: when one of the files exists, nothing is written.
    """
    from drucker.bundle.scaffold import init_project

    directory.mkdir(parents=True, exist_ok=True)
    written = guard(lambda: init_project(directory, name))
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
@no_smoke_option
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
    store = open_store(store_root)
    limit = guard(lambda: parse_size(max_file_size or "4GiB"))
    spec = guard(lambda: load_spec(project, limit))
    base = choose_base_image(spec, base_image)
    client = None
    if no_image:
        target = guard(lambda: choose_target(spec, base, python=python, platform=platform))
    else:
        # Everything the image build needs is checked before anything is resolved.
        client = guard(docker_client)
        facts = guard(lambda: inspect_base(client, base, store.cache_dir))
        target = guard(
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
            guard(
                lambda: _fail(
                    f"base image {base} is {facts.platform}, the bundle is for "
                    f"{target.platform}: give a {target.platform} base image, or --no-image"
                )
            )
    needs_base = client is not None and spec.system_packages
    system_base = guard(lambda: debian_base(client, base, store.cache_dir)) if needs_base else None
    report(f"building for {target.describe()} on {base}")
    result = guard(
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
        guard(
            lambda: build_image(
                result.path, result.manifest, report, client, no_cache=no_cache, tags=tags
            )
        )
        if not no_smoke:
            guard(lambda: smoke_start(client, result.manifest, report, spec.smoke_input))
        report(f"image {result.manifest.tag} ready ({time.monotonic() - started:.1f} s)")
        for line in guard(lambda: _left_behind(client, store, result.manifest)):
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

    _, manifest = guard(lambda: open_store(store_root).get(tag))
    client = guard(docker_client)
    pushed, digest = guard(
        lambda: push_image(client, manifest, reference, lambda m: click.echo(m, err=True))
    )
    click.echo(f"{pushed}@{digest}" if digest else pushed)


@bundle.command()
@click.argument("tag")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default: the bundle's).")
@store_option
def serve(tag: str, port: int | None, store_root: str | None) -> None:
    """Serve a stored bundle here, without Docker (its requirements must be installed)."""
    from drucker.server.lifecycle import run
    from drucker.server.options import ServeOptions

    store = open_store(store_root)
    path, manifest = guard(lambda: store.get(tag))
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
