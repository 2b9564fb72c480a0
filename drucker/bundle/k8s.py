"""Kubernetes manifests for a bundle image: Deployment, Service and HorizontalPodAutoscaler."""

from __future__ import annotations

from typing import Any

import yaml

from drucker.bundle.dockerfile import STOP_GRACE_SECONDS, UID
from drucker.bundle.manifest import Manifest


def _labels(manifest: Manifest) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": manifest.name,
        "app.kubernetes.io/version": manifest.version,
        "app.kubernetes.io/managed-by": "drucker",
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
) -> list[dict[str, Any]]:
    """The three resources, named after the bundle; ``image`` defaults to ``NAME:VERSION``."""
    labels = _labels(manifest)
    selector = {"app.kubernetes.io/name": manifest.name}
    port = manifest.port
    probe = {"grpc": {"port": port}, "periodSeconds": 10, "timeoutSeconds": 3}
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
                    "annotations": {"drucker.io/bundle-digest": manifest.digest},
                },
                "spec": {
                    "terminationGracePeriodSeconds": STOP_GRACE_SECONDS,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": UID},
                    "containers": [
                        {
                            "name": "model",
                            "image": image or manifest.tag,
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"name": "grpc", "containerPort": port}],
                            "readinessProbe": {**probe, "initialDelaySeconds": 2},
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
            "ports": [
                {
                    "name": "grpc",
                    "port": port,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "kubernetes.io/h2c",
                }
            ],
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
    return [deployment, service, autoscaler]


def render(resources: list[dict[str, Any]]) -> str:
    """The resources as one multi-document YAML text."""
    return yaml.safe_dump_all(resources, sort_keys=False)
