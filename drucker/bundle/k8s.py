"""Kubernetes manifests for a bundle image: Deployment, Service, autoscaler and disruption budget.

The management token comes from a Secret (key ``token``), so every replica accepts the same one.
"""

from __future__ import annotations

from typing import Any

import yaml

from drucker.bundle.dockerfile import STOP_GRACE_SECONDS, UID
from drucker.bundle.manifest import Manifest
from drucker.settings import Settings

METRICS_PORT_ENV = "DRUCKER_METRICS_PORT"
HTTP_PORT_ENV = "DRUCKER_HTTP_PORT"


def _labels(manifest: Manifest) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": manifest.name,
        "app.kubernetes.io/version": manifest.version,
        "app.kubernetes.io/managed-by": "drucker",
    }


def _metrics_port(manifest: Manifest) -> int:
    """The image's metrics port (``metrics.port``; 0: metrics off)."""
    return int(manifest.env.get(METRICS_PORT_ENV, Settings().metrics_port))


def http_port(manifest: Manifest) -> int:
    """The image's V2 REST port (``http.port``; 0: none)."""
    return int(manifest.env.get(HTTP_PORT_ENV, Settings().http_port))


TOKEN_ENV = "DRUCKER_MANAGEMENT_TOKEN"
TOKEN_KEY = "token"


def token_secret_name(manifest: Manifest) -> str:
    """The default name of the Secret holding the management token."""
    return f"{manifest.name}-management-token"


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
) -> list[dict[str, Any]]:
    """The four resources, named after the bundle; ``image`` defaults to ``NAME:VERSION``.

    ``token_secret`` names the Secret whose ``token`` key is the management token (default
    ``NAME-management-token``). With ``store_url`` the replicas share that model store (see
    :func:`shared_store`).
    """
    labels = _labels(manifest)
    selector = {"app.kubernetes.io/name": manifest.name}
    port = manifest.port
    probe = {"grpc": {"port": port}, "periodSeconds": 10, "timeoutSeconds": 3}
    metrics_port = _metrics_port(manifest)
    container_ports: list[dict[str, Any]] = [{"name": "grpc", "containerPort": port}]
    rest = http_port(manifest)
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
    if metrics_port:
        container_ports.append({"name": "metrics", "containerPort": metrics_port})
        service_ports.append(
            {"name": "metrics", "port": metrics_port, "targetPort": "metrics", "protocol": "TCP"}
        )
        annotations |= {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(metrics_port),
            "prometheus.io/path": "/metrics",
        }
    readiness: dict[str, Any] = probe
    if rest:
        container_ports.append({"name": "http", "containerPort": rest})
        service_ports.append(
            {"name": "http", "port": rest, "targetPort": "http", "protocol": "TCP"}
        )
        ready = {"httpGet": {"path": "/v2/health/ready", "port": "http"}}
        readiness = {**ready, "periodSeconds": 10, "timeoutSeconds": 3}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": manifest.name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": annotations,
                },
                "spec": {
                    "terminationGracePeriodSeconds": STOP_GRACE_SECONDS,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": UID},
                    "containers": [
                        {
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
                            "readinessProbe": {**readiness, "initialDelaySeconds": 2},
                            "livenessProbe": {
                                **probe,
                                "initialDelaySeconds": 20,
                                "failureThreshold": 3,
                            },
                            "resources": {
                                "requests": {"cpu": cpu, "memory": memory},
                                "limits": {"cpu": cpu_limit, "memory": memory_limit},
                            },
                        }
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": manifest.name, "labels": labels},
        "spec": {
            "selector": selector,
            "ports": service_ports,
        },
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
        shared_store(deployment, manifest, store_url, store_secret)
    return [deployment, service, autoscaler, disruption_budget]


CACHE_MOUNT = "/var/cache/drucker"


def shared_store(
    deployment: dict[str, Any], manifest: Manifest, url: str, secret: str | None
) -> None:
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
    container["volumeMounts"] = [{"name": "model-cache", "mountPath": CACHE_MOUNT}]
    pod["volumes"] = [{"name": "model-cache", "emptyDir": {}}]


class _PlainDumper(yaml.SafeDumper):
    """Writes every mapping out in full: no ``&id001`` anchors for values used twice."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(resources: list[dict[str, Any]]) -> str:
    """The resources as one multi-document YAML text."""
    return yaml.dump_all(resources, Dumper=_PlainDumper, sort_keys=False)
