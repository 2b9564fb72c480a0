"""``drucker bundle k8s``: Kubernetes manifests for a bundle's image (plain or KServe)."""

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
    type=click.Choice(["plain", "kserve"]),
    default="plain",
    show_default=True,
    help="plain: Deployment, Service, autoscaler; kserve: a ServingRuntime and an "
    "InferenceService (see the README's 'Run on KServe').",
)
@click.option(
    "--storage-uri",
    metavar="URI",
    help="kserve: the model the InferenceService downloads into /mnt/models (s3://, gs://, "
    "pvc://, https://…; default: the bundled model).",
)
@click.option("--cluster-scoped", is_flag=True, help="kserve: a ClusterServingRuntime instead.")
@store_option
def k8s(
    tag: str,
    output: str | None,
    separate_stores: bool,
    store_root: str | None,
    flavor: str,
    storage_uri: str | None,
    cluster_scoped: bool,
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
    if flavor != "kserve" and (storage_uri or cluster_scoped):
        raise click.UsageError("--storage-uri and --cluster-scoped go with --flavor kserve")
    path, manifest = guard(lambda: open_store(store_root).get(tag))
    secret = pods["token_secret"] or token_secret_name(manifest)
    if flavor == "kserve":
        from drucker.bundle.kserve import kserve_manifests

        kserve_keys = ("image", "cpu", "memory", "cpu_limit", "memory_limit", "token_secret")
        resources = guard(
            lambda: kserve_manifests(
                manifest,
                storage_uri=storage_uri,
                cluster_scoped=cluster_scoped,
                **{key: pods[key] for key in kserve_keys},
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


def _write_manifests(resources: list[dict[str, Any]], output: str | None, secret: str) -> None:
    from drucker.bundle.k8s import render

    click.echo(f"the pods read the management token from Secret {secret} (key 'token')", err=True)
    text = render(resources)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
