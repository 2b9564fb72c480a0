"""``drucker bundle`` commands over the local bundle store: list, show, delete, prune, export
and import (``drucker.cli.bundle`` adds them to its group)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import attrs
import click

from drucker.cli._bundle_support import engine, guard, open_store, store_option


@click.command(name="list")
@store_option
def list_bundles(store_root: str | None) -> None:
    """List stored bundles."""
    for manifest in guard(lambda: open_store(store_root).list()):
        click.echo(f"{manifest.tag}\t{manifest.created}\t{manifest.digest[:16]}")


@click.command()
@click.argument("tag")
@store_option
def show(tag: str, store_root: str | None) -> None:
    """Print a bundle's manifest as JSON (NAME for the newest version)."""
    path, manifest = guard(lambda: open_store(store_root).get(tag))
    data: dict[str, Any] = attrs.asdict(manifest)
    data["path"] = str(path)
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@click.command()
@click.argument("tag")
@click.option("--keep-images", is_flag=True, help="Leave the bundle's Docker images.")
@store_option
def delete(tag: str, keep_images: bool, store_root: str | None) -> None:
    """Delete NAME:VERSION from the store, and its Docker images that no other stored bundle
    uses: NAME:VERSION with its other tags, and its dependency stage NAME:deps-KEY."""
    from drucker.bundle.image import dependency_tag

    store = open_store(store_root)
    path, found = guard(lambda: store.get(tag))
    stage = dependency_tag(path, found) if (path / "requirements.lock").is_file() else ""
    manifest = guard(lambda: store.delete(tag))
    click.echo(f"deleted {manifest.tag}")
    if keep_images:
        return
    client, reason = engine()
    if client is None:
        click.echo(f"its images were left: {reason}", err=True)
        return
    from drucker.bundle.cleanup import images_of_deleted, remove_images

    for line in remove_images(client, images_of_deleted(client, manifest, stage, store)):
        click.echo(line)


@click.command()
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
        guard(functools.partial(validate_bundle_name, name))
    store = open_store(store_root)
    client = guard(docker_client)
    unused = guard(lambda: unused_images(client, store, names or None))
    if dry_run:
        for image in unused:
            click.echo(f"would remove image {image.reference} ({describe_bytes(image.size)})")
        return
    for line in remove_images(client, unused):
        click.echo(line)
    if not unused:
        click.echo("no unused images", err=True)


@click.command(name="export")
@click.argument("tag")
@click.argument("archive", type=click.Path(dir_okay=False))
@store_option
def export_bundle(tag: str, archive: str, store_root: str | None) -> None:
    """Write NAME:VERSION as one archive file."""
    manifest = guard(lambda: open_store(store_root).export(tag, Path(archive)))
    click.echo(f"exported {manifest.tag} to {archive}")


@click.command(name="import")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@store_option
def import_bundle(archive: str, store_root: str | None) -> None:
    """Add an exported bundle to the store, verified against its manifest."""
    manifest = guard(lambda: open_store(store_root).import_archive(Path(archive)))
    click.echo(manifest.tag)


STORE_COMMANDS = (list_bundles, show, delete, prune, export_bundle, import_bundle)
