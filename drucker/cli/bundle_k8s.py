"""``drucker bundle k8s``: Kubernetes manifests for a bundle's image (plain, KServe or Seldon
Core 2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from drucker.cli._bundle_support import guard, open_store, store_option

F = TypeVar("F", bound=Callable[..., Any])


def _count_option(flag: str, default: int, help: str) -> Callable[[F], F]:
    """An option of k8s: a whole number of at least 1, with its default shown."""
    return click.option(flag, default=default, show_default=True, type=click.IntRange(1), help=help)


@click.command()
@click.argument("tag")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="File (default: stdout).")
@click.option("--image", help="Image reference (default NAME:VERSION), e.g. with a registry.")
@_count_option("--replicas", 2, "The autoscaler's minimum number of pods.")
@_count_option("--max-replicas", 10, "The autoscaler's maximum number of pods.")
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
@_count_option(
    "--startup-seconds",
    300,
    "How long a pod may take to load its model before it is restarted (startupProbe).",
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
@click.option(
    "--flavor",
    type=click.Choice(["plain", "kserve", "seldon"]),
    default="plain",
    show_default=True,
    help="plain: Deployment, Service, autoscaler; kserve: a ServingRuntime and an "
    "InferenceService (see the README's 'Run on KServe'); seldon: a ServerConfig, a Server "
    "and Models (see 'Run on Seldon Core 2').",
)
@click.option(
    "--storage-uri",
    "storage_uris",
    metavar="[NAME=]URI",
    multiple=True,
    help="kserve: the model the InferenceService downloads into /mnt/models (s3://, gs://, "
    "pvc://, https://…; default: the bundled model). seldon (repeatable, needed): a Model "
    "NAME (default: the bundle's name) that Seldon's agent downloads from URI.",
)
@click.option("--cluster-scoped", is_flag=True, help="kserve: a ClusterServingRuntime instead.")
@click.option(
    "--agent-image",
    metavar="IMAGE",
    help="seldon: the agent's image (default docker.io/seldonio/seldon-agent:2.10.1).",
)
@click.option(
    "--rclone-image",
    metavar="IMAGE",
    help="seldon: rclone's image (default docker.io/seldonio/seldon-rclone:2.10.1).",
)
@click.option(
    "--storage-secret",
    metavar="NAME",
    help="seldon: the Secret with the rclone configuration the Models' downloads use.",
)
@store_option
def k8s(
    tag: str,
    output: str | None,
    separate_stores: bool,
    store_root: str | None,
    flavor: str,
    storage_uris: tuple[str, ...],
    cluster_scoped: bool,
    agent_image: str | None,
    rclone_image: str | None,
    storage_secret: str | None,
    **pods: Any,
) -> None:
    """Write Kubernetes manifests for a bundle's image.

    ServiceAccount, Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget,
    meeting the restricted Pod Security Standard. More than one replica needs --store-url (a
    store they share; the bundle needs drucker[s3] or drucker[gcs] for it) or
    --separate-stores. The management token is read from a Secret; make it first, e.g.
    `kubectl create secret generic NAME-management-token --from-literal=token=$(openssl rand
    -hex 32)`.
    """
    from drucker.bundle.k8s import check_store, manifests, token_secret_name
    from drucker.bundle.ports import manifest_ports

    # ``pods`` holds the options named as manifests() names its keywords (image, replicas, …).
    store_url = pods["store_url"]
    if pods["store_secret"] and not store_url:
        raise click.UsageError("--store-secret needs --store-url")
    _check_flavor_options(flavor, storage_uris, cluster_scoped, agent_image or rclone_image)
    if storage_secret and flavor != "seldon":
        raise click.UsageError("--storage-secret goes with --flavor seldon")
    path, manifest = guard(lambda: open_store(store_root).get(tag))
    secret = pods["token_secret"] or token_secret_name(manifest)
    engine_keys = ("image", "cpu", "memory", "cpu_limit", "memory_limit", "token_secret")
    if flavor == "kserve":
        from drucker.bundle.kserve import kserve_manifests

        resources = guard(
            lambda: kserve_manifests(
                manifest,
                storage_uri=storage_uris[0] if storage_uris else None,
                cluster_scoped=cluster_scoped,
                **{key: pods[key] for key in engine_keys},
            )
        )
        _write_manifests(resources, output, secret)
        return
    if flavor == "seldon":
        from drucker.bundle.seldon import AGENT_IMAGE, RCLONE_IMAGE, seldon_manifests

        resources = guard(
            lambda: seldon_manifests(
                manifest,
                storage_uris=storage_uris,
                agent_image=agent_image or AGENT_IMAGE,
                rclone_image=rclone_image or RCLONE_IMAGE,
                replicas=pods["replicas"],
                storage_secret=storage_secret,
                **{key: pods[key] for key in engine_keys},
            )
        )
        _write_manifests(resources, output, secret)
        return
    replicas, max_replicas = pods["replicas"], pods["max_replicas"]
    warnings = guard(
        lambda: check_store(
            manifest, store_url, replicas, max_replicas, separate_stores=separate_stores
        )
    )
    for warning in warnings:
        click.echo(warning, err=True)
    ports = guard(lambda: manifest_ports(path, manifest))
    _write_manifests(manifests(manifest, ports=ports, **pods), output, secret)


def _check_flavor_options(
    flavor: str, storage_uris: tuple[str, ...], cluster_scoped: bool, sidecar_image: str | None
) -> None:
    """:raises click.UsageError: for an engine's option given to another flavor."""
    if flavor == "plain" and storage_uris:
        raise click.UsageError("--storage-uri goes with --flavor kserve or seldon")
    if flavor != "kserve" and cluster_scoped:
        raise click.UsageError("--cluster-scoped goes with --flavor kserve")
    if flavor == "kserve" and len(storage_uris) > 1:
        raise click.UsageError("--flavor kserve takes one --storage-uri (one InferenceService)")
    if flavor != "seldon" and sidecar_image:
        raise click.UsageError("--agent-image and --rclone-image go with --flavor seldon")


def _write_manifests(resources: list[dict[str, Any]], output: str | None, secret: str) -> None:
    from drucker.bundle.k8s import render

    click.echo(f"the pods read the management token from Secret {secret} (key 'token')", err=True)
    text = render(resources)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
