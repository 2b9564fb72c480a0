"""A bundle image as a KServe serving runtime: a ServingRuntime and an InferenceService.

KServe starts the runtime's container (named ``kserve-container``) with ``--model_name``,
``--model_dir=/mnt/models`` (where its storage initializer downloaded the InferenceService's
``storageUri``), ``--http_port`` and ``--grpc_port``; ``drucker serve`` takes those spellings
(see :mod:`drucker.cli.engines`). V2 REST listens on 8080, gRPC (V2 and the Drucker protocol)
on 8081 under the port name ``h2c``, metrics on 8082, announced to Prometheus through KServe's
scraping annotations.
"""

from __future__ import annotations

from typing import Any

from drucker.bundle.k8s import (
    TOKEN_ENV,
    TOKEN_KEY,
    WRITABLE,
    container_security,
    sized_and_writable,
    token_secret_name,
)
from drucker.bundle.manifest import Manifest
from drucker.errors import ConfigurationError

KSERVE_HTTP_PORT = 8080
KSERVE_GRPC_PORT = 8081
METRICS_PORT = 8082
MODEL_DIR = "/mnt/models"
# What KServe's storage initializer can download (its own Storage.download's schemes).
STORAGE_SCHEMES = ("s3", "gs", "pvc", "http", "https", "hdfs", "webhdfs", "oci", "hf")


def model_format(manifest: Manifest) -> str:
    """The model format an InferenceService names to select this bundle's runtime."""
    return f"drucker-{manifest.name}"


def check_storage_uri(uri: str | None) -> None:
    """:raises ConfigurationError: for a scheme KServe's storage initializer cannot fetch."""
    if uri is None:
        return
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme not in STORAGE_SCHEMES:
        raise ConfigurationError(
            f"--storage-uri {uri}: KServe's storage initializer fetches only "
            f"{', '.join(s + '://' for s in STORAGE_SCHEMES)}"
        )


def kserve_manifests(
    manifest: Manifest,
    *,
    image: str | None = None,
    storage_uri: str | None = None,
    cluster_scoped: bool = False,
    cpu: str = "500m",
    memory: str = "512Mi",
    cpu_limit: str = "2",
    memory_limit: str = "1Gi",
    token_secret: str | None = None,
) -> list[dict[str, Any]]:
    """The runtime (``ClusterServingRuntime`` when ``cluster_scoped``) and an
    InferenceService named after the bundle; without ``storage_uri`` the bundled model
    serves."""
    check_storage_uri(storage_uri)
    labels = {"app.kubernetes.io/name": manifest.name, "app.kubernetes.io/managed-by": "drucker"}
    container: dict[str, Any] = {
        "name": "kserve-container",
        "image": image or manifest.tag,
        "args": [
            "--model_name={{.Name}}",
            f"--model_dir={MODEL_DIR}",
            f"--http_port={KSERVE_HTTP_PORT}",
            f"--grpc_port={KSERVE_GRPC_PORT}",
        ],
        "env": [
            {"name": "DRUCKER_METRICS_PORT", "value": str(METRICS_PORT)},
            {
                "name": TOKEN_ENV,
                "valueFrom": {
                    "secretKeyRef": {
                        "name": token_secret or token_secret_name(manifest),
                        "key": TOKEN_KEY,
                    }
                },
            },
        ],
        "ports": [{"name": "h2c", "containerPort": KSERVE_GRPC_PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/v2/health/ready", "port": KSERVE_HTTP_PORT},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
        },
        "securityContext": container_security(),
        **sized_and_writable(cpu, memory, cpu_limit, memory_limit),
    }
    runtime = {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ClusterServingRuntime" if cluster_scoped else "ServingRuntime",
        "metadata": {"name": manifest.name, "labels": labels},
        "spec": {
            "annotations": {
                "prometheus.kserve.io/port": str(METRICS_PORT),
                "prometheus.kserve.io/path": "/metrics",
            },
            "supportedModelFormats": [
                {"name": model_format(manifest), "version": "1", "autoSelect": True}
            ],
            "protocolVersions": ["v2", "grpc-v2"],
            "multiModel": False,
            "containers": [container],
            "volumes": [{"name": name, "emptyDir": {}} for name, _ in WRITABLE],
        },
    }
    model: dict[str, Any] = {
        "modelFormat": {"name": model_format(manifest), "version": "1"},
        "runtime": manifest.name,
        "protocolVersion": "v2",
    }
    if storage_uri:
        model["storageUri"] = storage_uri
    service = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": manifest.name,
            "labels": labels,
            "annotations": {"serving.kserve.io/enable-prometheus-scraping": "true"},
        },
        "spec": {"predictor": {"model": model}},
    }
    return [runtime, service]
