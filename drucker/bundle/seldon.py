"""A bundle image as a Seldon Core 2 custom server: a ServerConfig, a Server and Models.

A ServerConfig's pod runs Seldon's rclone (downloads), Seldon's agent (talks to the scheduler,
places models in ``/mnt/agent/models``, drives the server through the Open Inference Protocol
and proxies inference to it) and the server: here the bundle image, told through its
environment where the agent calls it (``SELDON_SERVER_HTTP_PORT`` / ``SELDON_SERVER_GRPC_PORT``,
see :mod:`drucker.cli.engines`), where the agent's models are (``repository.models_dir``), to
load none at start, and to accept the agent's repository rpcs without the management token from
the pod's loopback (``management.repository_loopback_without_token``). The agent runs as the
MLServer server type, so it writes a ``model-settings.json`` beside each model (see
:mod:`drucker.server.engine_models`). A Model is scheduled on a Server whose ``capabilities``
hold all of its ``requirements``.
"""

from __future__ import annotations

import re
from typing import Any

from packaging.version import InvalidVersion, Version

from drucker.bundle.dockerfile import UID
from drucker.bundle.k8s import (
    TOKEN_ENV,
    TOKEN_KEY,
    container_security,
    sized_and_writable,
    token_secret_name,
)
from drucker.bundle.manifest import Manifest
from drucker.errors import ConfigurationError

AGENT_IMAGE = "docker.io/seldonio/seldon-agent:2.10.1"
RCLONE_IMAGE = "docker.io/seldonio/seldon-rclone:2.10.1"
SERVICE_ACCOUNT = "seldon-server"  # made by Seldon's installation, with the agent's rights
AGENT_DIR = "/mnt/agent"
MODELS_DIR = f"{AGENT_DIR}/models"
SERVER_HTTP_PORT = 9000
SERVER_GRPC_PORT = 9500
METRICS_PORT = 8082
RCLONE_PORT = 5572
DRAINER_PORT = 9007
READINESS_PORT = 9008
# The first drucker whose server has what the agent needs: the repository rpcs, an engine
# models directory and the loopback waiver of the token.
REPOSITORY_DRUCKER = Version("0.5.0")
# What Seldon's rclone fetches without a configured remote (``--storage-secret`` names one).
STORAGE_SCHEMES = ("s3", "gs", "gcs", "az", "azureblob", "http", "https", "hdfs", "swift")
# The requirement the MLServer-type agent writes a model-settings.json for, by first-party
# model plugin (its handler finds the model file by that framework's file extensions).
PLUGIN_FRAMEWORKS = {"drucker_sklearn": "sklearn"}
# A Model is a Kubernetes object: its name is a DNS label (the agent serves it as <name>_<v>).
MODEL_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def capability(manifest: Manifest) -> str:
    """The capability of this bundle's Server, which its Models require."""
    return f"drucker-{manifest.name}"


def requirements(manifest: Manifest) -> list[str]:
    """What a Model of this bundle requires: the bundle's capability and, for a first-party
    plugin, the framework the agent writes a model-settings.json for."""
    framework = PLUGIN_FRAMEWORKS.get(manifest.plugin)
    return [capability(manifest), *([framework] if framework else [])]


def check_bundle(manifest: Manifest) -> None:
    """:raises ConfigurationError: when the bundle's server lacks what Seldon's agent needs."""
    try:
        built_with = Version(manifest.drucker_version)
    except InvalidVersion:
        built_with = Version("0")
    if built_with.release < REPOSITORY_DRUCKER.release:
        raise ConfigurationError(
            f"bundle {manifest.tag} was built with drucker {manifest.drucker_version}, whose "
            "server lacks what Seldon's agent calls (the model repository rpcs, a models "
            f"directory, the loopback waiver): build it again with drucker >= "
            f"{REPOSITORY_DRUCKER}"
        )


def parse_storage_uris(manifest: Manifest, values: tuple[str, ...]) -> dict[str, str]:
    """``[NAME=]URI`` values: the Models' storage URIs by Model name (a lone URI: the bundle's
    name).

    :raises ConfigurationError: without a URI, for a name given twice, or for a scheme
        Seldon's rclone cannot fetch.
    """
    if not values:
        raise ConfigurationError(
            "--flavor seldon needs --storage-uri [NAME=]URI: Seldon's agent downloads each "
            "Model's artifact with rclone (s3://, gs://, https://…), it cannot reach the "
            "model inside the image"
        )
    uris: dict[str, str] = {}
    for value in values:
        name, equals, uri = value.partition("=")
        if not equals or "://" in name:
            name, uri = manifest.name, value
        if not MODEL_NAME.fullmatch(name):
            raise ConfigurationError(
                f"--storage-uri {value}: {name!r} is not a Model name (lower-case letters, "
                "digits and '-', at most 63)"
            )
        if name in uris:
            raise ConfigurationError(f"--storage-uri: Model {name!r} is given twice")
        scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
        if scheme not in STORAGE_SCHEMES:
            raise ConfigurationError(
                f"--storage-uri {uri}: Seldon's rclone fetches only "
                f"{', '.join(s + '://' for s in STORAGE_SCHEMES)}"
            )
        uris[name] = uri
    return uris


def _restricted(user: int = UID) -> dict[str, Any]:
    """The restricted context of Seldon's containers (their images write beside their
    binaries, so the root file system stays writable)."""
    return {**container_security(), "readOnlyRootFilesystem": False, "runAsUser": user}


def _env(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": name, "value": value} for name, value in values.items()]


def server_container(
    manifest: Manifest, image: str | None, token_secret: str | None, sizes: dict[str, str]
) -> dict[str, Any]:
    """The bundle image as the server, set up as Seldon's agent expects it."""
    env = _env(
        {
            "SELDON_SERVER_HTTP_PORT": str(SERVER_HTTP_PORT),
            "SELDON_SERVER_GRPC_PORT": str(SERVER_GRPC_PORT),
            "DRUCKER_REPOSITORY_MODELS_DIR": MODELS_DIR,
            "DRUCKER_APP_LOAD_MODELS_AT_STARTUP": "false",
            "DRUCKER_MANAGEMENT_REPOSITORY_LOOPBACK_WITHOUT_TOKEN": "true",
            "DRUCKER_APP_WORKERS": "1",  # one process: a load reaches the whole server
            "DRUCKER_METRICS_PORT": str(METRICS_PORT),
        }
    )
    secret = {"name": token_secret or token_secret_name(manifest), "key": TOKEN_KEY}
    env.append({"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": secret}})
    mounts = sized_and_writable(**sizes)
    mounts["volumeMounts"].append({"name": "agent", "mountPath": AGENT_DIR, "readOnly": True})
    live = {"httpGet": {"path": "/v2/health/live", "port": "server-http"}}
    return {
        "name": "drucker",
        "image": image or manifest.tag,
        "imagePullPolicy": "IfNotPresent",
        "env": env,
        "ports": [
            {"name": "server-grpc", "containerPort": SERVER_GRPC_PORT, "protocol": "TCP"},
            {"name": "server-http", "containerPort": SERVER_HTTP_PORT, "protocol": "TCP"},
            {"name": "server-metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "livenessProbe": {**live, "periodSeconds": 10, "timeoutSeconds": 3},
        "readinessProbe": {
            "httpGet": {"path": "/v2/health/ready", "port": "server-http"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
        },
        "startupProbe": {**live, "periodSeconds": 5, "failureThreshold": 60},
        "lifecycle": {"preStop": {"httpGet": {"path": "terminate", "port": DRAINER_PORT}}},
        "securityContext": container_security(),
        **mounts,
    }


def agent_container(image: str, capabilities: list[str]) -> dict[str, Any]:
    """Seldon's agent, as its own MLServer ServerConfig runs it, calling the server above."""
    env = _env(
        {
            "SELDON_SERVER_CAPABILITIES": ",".join(capabilities),
            "SELDON_OVERCOMMIT_PERCENTAGE": "10",
            "SELDON_SERVER_HTTP_PORT": str(SERVER_HTTP_PORT),
            "SELDON_SERVER_GRPC_PORT": str(SERVER_GRPC_PORT),
            "SELDON_REVERSE_PROXY_HTTP_PORT": "9001",
            "SELDON_REVERSE_PROXY_GRPC_PORT": "9501",
            "SELDON_SCHEDULER_HOST": "seldon-scheduler",
            "SELDON_SCHEDULER_PORT": "9005",
            "SELDON_SCHEDULER_TLS_PORT": "9055",
            "SELDON_METRICS_PORT": "9006",
            "SELDON_DRAINER_PORT": str(DRAINER_PORT),
            "SELDON_READINESS_PORT": str(READINESS_PORT),
            "SELDON_SERVER_TYPE": "mlserver",
            "SELDON_ENVOY_HOST": "seldon-mesh",
            "SELDON_ENVOY_PORT": "80",
            "SELDON_LOG_LEVEL": "warn",
            "SELDON_USE_DEPLOYMENTS_FOR_SERVERS": "false",
        }
    )
    env += [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {
            "name": "MEMORY_REQUEST",
            "valueFrom": {
                "resourceFieldRef": {"containerName": "drucker", "resource": "requests.memory"}
            },
        },
    ]
    ready = {"httpGet": {"path": "/ready", "port": READINESS_PORT}}
    return {
        "name": "agent",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/agent"],
        "args": ["--tracing-config-path=/mnt/tracing/tracing.json"],
        "env": env,
        "ports": [
            {"name": "grpc", "containerPort": 9501, "protocol": "TCP"},
            {"name": "http", "containerPort": 9001, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9006, "protocol": "TCP"},
            {"name": "readiness-port", "containerPort": READINESS_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {**ready, "failureThreshold": 1, "periodSeconds": 5},
        "startupProbe": {**ready, "failureThreshold": 60, "periodSeconds": 15},
        "lifecycle": {"preStop": {"httpGet": {"path": "terminate", "port": DRAINER_PORT}}},
        "resources": {"requests": {"cpu": "500m", "memory": "500M"}},
        "securityContext": _restricted(),
        "volumeMounts": [
            {"name": "agent", "mountPath": AGENT_DIR},
            {"name": "config-volume", "mountPath": "/mnt/config"},
            {"name": "tracing-config-volume", "mountPath": "/mnt/tracing"},
        ],
    }


def rclone_container(image: str) -> dict[str, Any]:
    """Seldon's rclone, as its own ServerConfigs run it, downloading into the shared volume."""
    return {
        "name": "rclone",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["rclone"],
        "args": [
            "rcd",
            "--rc-no-auth",
            "--config=/rclone/rclone.conf",
            f"--rc-addr=0.0.0.0:{RCLONE_PORT}",
            "--max-buffer-memory=$(MAX_BUFFER_MEMORY)",
        ],
        "env": _env({"RCLONE_LOG_LEVEL": "INFO", "MAX_BUFFER_MEMORY": "64M"}),
        "ports": [{"name": "rclone", "containerPort": RCLONE_PORT, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": RCLONE_PORT}, "periodSeconds": 5},
        "lifecycle": {"preStop": {"httpGet": {"path": "terminate", "port": DRAINER_PORT}}},
        "resources": {"requests": {"cpu": "200m", "memory": "100M"}, "limits": {"memory": "256M"}},
        "securityContext": _restricted(),
        "volumeMounts": [
            {"name": "agent", "mountPath": AGENT_DIR},
            {"name": "rclone-config", "mountPath": "/rclone"},
        ],
    }


def seldon_manifests(
    manifest: Manifest,
    *,
    storage_uris: tuple[str, ...] = (),
    image: str | None = None,
    agent_image: str = AGENT_IMAGE,
    rclone_image: str = RCLONE_IMAGE,
    replicas: int = 1,
    cpu: str = "500m",
    memory: str = "512Mi",
    cpu_limit: str = "2",
    memory_limit: str = "1Gi",
    token_secret: str | None = None,
    storage_secret: str | None = None,
) -> list[dict[str, Any]]:
    """The ServerConfig and the Server named after the bundle, and one Model per
    ``[NAME=]URI`` of ``storage_uris``.

    :raises ConfigurationError: for a bundle whose server lacks the repository API's needs, or
        storage URIs that Seldon cannot fetch.
    """
    check_bundle(manifest)
    uris = parse_storage_uris(manifest, storage_uris)
    labels = {"app.kubernetes.io/name": manifest.name, "app.kubernetes.io/managed-by": "drucker"}
    capabilities = requirements(manifest)
    sizes = {"cpu": cpu, "memory": memory, "cpu_limit": cpu_limit, "memory_limit": memory_limit}
    writable: list[dict[str, Any]] = [
        {"name": name, "emptyDir": {}} for name in ("model-store", "eval-store", "tmp")
    ]
    pod = {
        "terminationGracePeriodSeconds": 120,
        # Seldon's own: the agent reads the Models' rclone Secrets through the API server.
        "serviceAccountName": SERVICE_ACCOUNT,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            rclone_container(rclone_image),
            agent_container(agent_image, capabilities),
            server_container(manifest, image, token_secret, sizes),
        ],
        "volumes": [
            {"name": "agent", "emptyDir": {}},
            {"name": "rclone-config", "emptyDir": {}},
            {"name": "config-volume", "configMap": {"name": "seldon-agent"}},
            {"name": "tracing-config-volume", "configMap": {"name": "seldon-tracing"}},
            *writable,
        ],
    }
    server_config = {
        "apiVersion": "mlops.seldon.io/v1alpha1",
        "kind": "ServerConfig",
        "metadata": {"name": manifest.name, "labels": labels},
        "spec": {"podSpec": pod},
    }
    server = {
        "apiVersion": "mlops.seldon.io/v1alpha1",
        "kind": "Server",
        "metadata": {"name": manifest.name, "labels": labels},
        "spec": {
            "serverConfig": manifest.name,
            "capabilities": capabilities,
            "replicas": replicas,
        },
    }
    models = []
    for name, uri in uris.items():
        spec: dict[str, Any] = {"storageUri": uri, "requirements": capabilities}
        if storage_secret:
            spec["secretName"] = storage_secret
        models.append(
            {
                "apiVersion": "mlops.seldon.io/v1alpha1",
                "kind": "Model",
                "metadata": {"name": name, "labels": labels},
                "spec": spec,
            }
        )
    return [server_config, server, *models]
