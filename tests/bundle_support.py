"""Bundles stored without a package index: the resolution is faked, the rest is real."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import drucker.bundle.build as build_module
from drucker.bundle.build import assemble
from drucker.bundle.store import BundleStore
from drucker.bundle.target import Target
from drucker.bundle.wheels import PinnedPackage


class FakeResolution:
    """A resolution of ``packages`` with empty wheels, as :func:`resolve` would return."""

    def __init__(self, packages: tuple[str, ...]) -> None:
        self.packages = [
            PinnedPackage(p, "1", f"{p}-1-py3-none-any.whl", "0" * 64) for p in packages
        ]

    def copy_into(self, wheelhouse: Path) -> None:
        wheelhouse.mkdir(parents=True)
        for package in self.packages:
            (wheelhouse / package.filename).write_bytes(b"")


def stored_bundle(
    store: BundleStore,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    *packages: str,
    name: str = "iris",
    model: bytes = b"model",
) -> str:
    """Store a bundle of a small project at ``project`` whose requirements are ``packages``;
    its settings open V2 REST on 8090 and metrics on 9100, its env moves metrics to 9200."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "plugin.py").write_text("import drucker\n")
    (project / "model.bin").write_bytes(model)
    (project / "settings.yml").write_text("http.port: 8090\nmetrics.port: 9100\n")
    (project / "bundle.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            plugin: plugin.py
            model: model.bin
            settings: settings.yml
            env: {{DRUCKER_METRICS_PORT: "9200"}}
            """
        )
    )
    monkeypatch.setattr(build_module, "resolve", lambda *a, **k: FakeResolution(packages))
    return assemble(project, store, target=Target("3.11")).manifest.tag


PLAIN_KINDS = [
    "ServiceAccount",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
]


def validated_kinds(documents: list[dict[str, Any]]) -> list[str]:
    """Validate every manifest against the Kubernetes schemas (strict); their kinds."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    from kubernetes_validate.utils import latest_version

    for document in documents:
        kubernetes_validate.validate(document, latest_version(), strict=True)
    return [document["kind"] for document in documents]
