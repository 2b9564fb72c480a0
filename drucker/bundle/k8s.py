"""Kubernetes manifests for a bundle image: ServiceAccount, Deployment, Service, autoscaler and
disruption budget.

The pods meet the *restricted* Pod Security Standard: non-root, no privilege escalation, no
capabilities, the runtime's seccomp profile, a read-only root file system whose writable paths
(the model store, the evaluation store, ``/tmp`` and a shared store's cache) are ``emptyDir``
volumes, and no service-account token. The management token comes from a Secret (key
``token``), so every replica accepts the same one. The autoscaler owns the replica count, so the
Deployment fixes none.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
from packaging.utils import canonicalize_name

from drucker.bundle.dockerfile import EVAL_DIR, MODEL_DIR, STOP_GRACE_SECONDS, UID
from drucker.bundle.manifest import Manifest
from drucker.bundle.ports import Ports, manifest_ports
from drucker.errors import ConfigurationError

TOKEN_ENV = "DRUCKER_MANAGEMENT_TOKEN"
TOKEN_KEY = "token"
CACHE_MOUNT = "/var/cache/drucker"
# After a pod is marked for deletion, endpoints controllers and proxies take a few seconds to
# stop sending it requests; drucker keeps accepting until then, and drains afterwards.
PRE_STOP_SECONDS = 5
STARTUP_PERIOD_SECONDS = 5
DEFAULT_STARTUP_SECONDS = 300
# The Python packages a store URL's scheme needs in the image, and the extra that brings them.
STORE_PACKAGES = {
    "s3": (("fsspec", "s3fs"), "drucker[s3]"),
    "s3a": (("fsspec", "s3fs"), "drucker[s3]"),
    "gs": (("fsspec", "gcsfs"), "drucker[gcs]"),
    "gcs": (("fsspec", "gcsfs"), "drucker[gcs]"),
}


def _labels(manifest: Manifest) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": manifest.name,
        "app.kubernetes.io/version": manifest.version,
        "app.kubernetes.io/managed-by": "drucker",
    }


def token_secret_name(manifest: Manifest) -> str:
    """The default name of the Secret holding the management token."""
    return f"{manifest.name}-management-token"


def check_store(
    manifest: Manifest,
    store_url: str | None,
    replicas: int,
    max_replicas: int,
    *,
    separate_stores: bool = False,
) -> list[str]:
    """Refuse manifests whose pods cannot share their model store; return warnings.

    A store URL needs its fsspec backend among the bundle's packages (else every pod would die
    with ``ModuleNotFoundError``). More than one pod without a store URL gives each pod its own
    store, so an upload through the Service reaches one random pod: refused unless
    ``separate_stores`` insists, and then warned about.

    :raises ConfigurationError: saying what to add.
    """
    if store_url:
        scheme = store_url.split("://", 1)[0].lower() if "://" in store_url else "file"
        needed, extra = STORE_PACKAGES.get(scheme, (("fsspec",), "drucker[s3]"))
        have = {canonicalize_name(package.name) for package in manifest.packages}
        missing = [name for name in needed if canonicalize_name(name) not in have]
        if missing:
            raise ConfigurationError(
                f"--store-url {store_url}: bundle {manifest.tag} has no {', '.join(missing)}, "
                f"so its pods would die with ModuleNotFoundError: add {extra!r} to the "
                "requirements in bundle.yaml and build the bundle again"
            )
        return []
    pods = max(replicas, max_replicas)
    if pods <= 1:
        return []
    problem = (
        f"up to {pods} replicas without --store-url keep one model store each, so an upload "
        "or a switch through the Service reaches one random pod"
    )
    if not separate_stores:
        raise ConfigurationError(
            f"{problem}: give --store-url s3://BUCKET/PREFIX (and 'drucker[s3]' in the "
            "bundle's requirements), or --max-replicas 1, or --separate-stores to write them "
            "anyway (each pod then serves only the model of its image)"
        )
    return [
        f"WARNING: {problem}; --separate-stores: change models only with a new image, "
        "never with `drucker model upload` or `switch` through the Service"
    ]


def _probe(port: int, **timing: int) -> dict[str, Any]:
    return {"grpc": {"port": port}, "timeoutSeconds": 3, **timing}


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


WRITABLE = (("model-store", MODEL_DIR), ("eval-store", EVAL_DIR), ("tmp", "/tmp"))


def sized_and_writable(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    """A container's resources and its mounts of the writable (``emptyDir``) paths."""
    return {
        "resources": {
            "requests": {"cpu": cpu, "memory": memory},
            "limits": {"cpu": cpu_limit, "memory": memory_limit},
        },
        "volumeMounts": [{"name": name, "mountPath": path} for name, path in WRITABLE],
    }


def manifests(
    manifest: Manifest,
    *,
    image: str | None = None,
    replicas: int = 2,
    max_replicas: int = 10,
    cpu: str = "500m",
    memory: str = "512Mi",
    cpu_limit: str = "2",
    memory_limit: str = "1Gi",
    store_url: str | None = None,
    store_secret: str | None = None,
    token_secret: str | None = None,
    ports: Ports | None = None,
    startup_seconds: int = DEFAULT_STARTUP_SECONDS,
) -> list[dict[str, Any]]:
    """The five resources, named after the bundle; ``image`` defaults to ``NAME:VERSION``.

    ``replicas`` is the autoscaler's minimum. ``token_secret`` names the Secret whose ``token``
    key is the management token (default ``NAME-management-token``). With ``store_url`` the
    replicas share that model store (see :func:`shared_store`); :func:`check_store` says
    whether they can. ``ports`` default to those of the bundle's environment
    (:func:`~drucker.bundle.ports.manifest_ports`); ``startup_seconds`` is how long a pod may
    take to load its model before it is restarted.
    """
    labels = _labels(manifest)
    selector = {"app.kubernetes.io/name": manifest.name}
    ports = ports or manifest_ports(None, manifest)
    port = ports.grpc
    container_ports: list[dict[str, Any]] = [{"name": "grpc", "containerPort": port}]
    service_ports: list[dict[str, Any]] = [
        {
            "name": "grpc",
            "port": port,
            "targetPort": "grpc",
            "protocol": "TCP",
            "appProtocol": "kubernetes.io/h2c",
        }
    ]
    annotations = {"drucker.io/bundle-digest": manifest.digest}
    if ports.metrics:
        container_ports.append({"name": "metrics", "containerPort": ports.metrics})
        service_ports.append(
            {"name": "metrics", "port": ports.metrics, "targetPort": "metrics", "protocol": "TCP"}
        )
        annotations |= {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(ports.metrics),
            "prometheus.io/path": "/metrics",
        }
    readiness: dict[str, Any] = _probe(port, periodSeconds=10)
    if ports.http:
        container_ports.append({"name": "http", "containerPort": ports.http})
        service_ports.append(
            {"name": "http", "port": ports.http, "targetPort": "http", "protocol": "TCP"}
        )
        ready = {"httpGet": {"path": "/v2/health/ready", "port": "http"}}
        readiness = {**ready, "periodSeconds": 10, "timeoutSeconds": 3}
    pause = ["/opt/venv/bin/python", "-c", f"import time; time.sleep({PRE_STOP_SECONDS})"]
    container: dict[str, Any] = {
        "name": "model",
        "image": image or manifest.tag,
        "imagePullPolicy": "IfNotPresent",
        "ports": container_ports,
        "env": [
            {
                "name": TOKEN_ENV,
                "valueFrom": {
                    "secretKeyRef": {
                        "name": token_secret or token_secret_name(manifest),
                        "key": TOKEN_KEY,
                    }
                },
            }
        ],
        "securityContext": container_security(),
        "startupProbe": _probe(
            port,
            periodSeconds=STARTUP_PERIOD_SECONDS,
            failureThreshold=max(1, math.ceil(startup_seconds / STARTUP_PERIOD_SECONDS)),
        ),
        "readinessProbe": readiness,
        "livenessProbe": _probe(port, periodSeconds=10, failureThreshold=3),
        "lifecycle": {"preStop": {"exec": {"command": pause}}},
        **sized_and_writable(cpu, memory, cpu_limit, memory_limit),
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": manifest.name, "labels": labels},
        "spec": {
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "serviceAccountName": manifest.name,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": STOP_GRACE_SECONDS + PRE_STOP_SECONDS,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": name, "emptyDir": {}} for name, _ in WRITABLE],
                },
            },
        },
    }
    service_account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": manifest.name, "labels": labels},
        "automountServiceAccountToken": False,
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": manifest.name, "labels": labels},
        "spec": {"selector": selector, "ports": service_ports},
    }
    autoscaler = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": manifest.name, "labels": labels},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": manifest.name,
            },
            "minReplicas": replicas,
            "maxReplicas": max(max_replicas, replicas),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
    disruption_budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": manifest.name, "labels": labels},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }
    if store_url:
        shared_store(deployment, store_url, store_secret)
    return [service_account, deployment, service, autoscaler, disruption_budget]


def shared_store(deployment: dict[str, Any], url: str, secret: str | None) -> None:
    """Point every replica at one model store: the URL, its credentials from the Secret
    ``secret`` (all its keys become environment variables, e.g. ``AWS_ACCESS_KEY_ID``; never
    inlined) and a cache volume (``emptyDir``); the management token comes from its Secret
    already (see :func:`manifests`)."""
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    container["env"] = [
        {"name": "DRUCKER_STORE_URL", "value": url},
        {"name": "DRUCKER_STORE_CACHE_DIR", "value": CACHE_MOUNT},
        *container.get("env", []),
    ]
    if secret:
        container["envFrom"] = [{"secretRef": {"name": secret}}]
    container["volumeMounts"].append({"name": "model-cache", "mountPath": CACHE_MOUNT})
    pod["volumes"].append({"name": "model-cache", "emptyDir": {}})


class _PlainDumper(yaml.SafeDumper):
    """Writes every mapping out in full: no ``&id001`` anchors for values used twice."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(resources: list[dict[str, Any]]) -> str:
    """The resources as one multi-document YAML text."""
    return yaml.dump_all(resources, Dumper=_PlainDumper, sort_keys=False)
