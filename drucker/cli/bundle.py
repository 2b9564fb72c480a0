"""``drucker bundle``: build, store, export, serve and deploy bundles."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click

from drucker.bundle.store import BundleStore
from drucker.errors import DruckerError

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
    help="Bundle store (default: $DRUCKER_BUNDLE_STORE or ~/.local/share/drucker/bundles).",
)


@click.group()
def bundle() -> None:
    """Package a plugin and its model as a versioned bundle and Docker image."""


@bundle.command()
@click.argument("project", default=".", type=click.Path(exists=True, file_okay=False))
@click.option("--version", help="Version to give (default: derived from the content digest).")
@click.option("--no-image", is_flag=True, help="Store the bundle but build no image.")
@click.option("--base-image", help="Base image with Python 3.11+ (default: bundle.yaml's).")
@store_option
def build(
    project: str,
    version: str | None,
    no_image: bool,
    base_image: str | None,
    store_root: str | None,
) -> None:
    """Build the bundle of PROJECT (a directory with bundle.yaml) and its image.

    The last line of standard output is the image tag NAME:VERSION.
    """
    from drucker.bundle.build import assemble
    from drucker.bundle.image import build_image

    def report(message: str) -> None:
        click.echo(message, err=True)

    started = time.monotonic()
    result = _guard(
        lambda: assemble(
            Path(project),
            _store(store_root),
            version=version,
            base_image=base_image,
            progress=report,
        )
    )
    state = "stored" if result.created else "unchanged (already stored)"
    report(f"bundle {result.manifest.tag} {state} in {result.path}")
    if not no_image:
        _guard(lambda: build_image(result.path, result.manifest, report))
        report(f"image {result.manifest.tag} ready ({time.monotonic() - started:.1f} s)")
    click.echo(result.manifest.tag)


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
@store_option
def delete(tag: str, store_root: str | None) -> None:
    """Delete NAME:VERSION from the store."""
    manifest = _guard(lambda: _store(store_root).delete(tag))
    click.echo(f"deleted {manifest.tag}")


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
@click.option("--replicas", default=2, show_default=True, type=click.IntRange(1))
@click.option("--max-replicas", default=10, show_default=True, type=click.IntRange(1))
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
@store_option
def k8s(
    tag: str,
    output: str | None,
    image: str | None,
    replicas: int,
    max_replicas: int,
    store_url: str | None,
    store_secret: str | None,
    store_root: str | None,
) -> None:
    """Write Kubernetes manifests (Deployment, Service, HPA) for a bundle's image."""
    from drucker.bundle.k8s import manifests, render

    if store_secret and not store_url:
        raise click.UsageError("--store-secret needs --store-url")
    _, manifest = _guard(lambda: _store(store_root).get(tag))
    resources = manifests(
        manifest,
        image=image,
        replicas=replicas,
        max_replicas=max_replicas,
        store_url=store_url,
        store_secret=store_secret,
    )
    text = render(resources)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
