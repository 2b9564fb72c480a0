"""The ports a bundle's server opens, as its settings file and the image's environment make them.

The image's Dockerfile declares them (``EXPOSE``) and the Kubernetes manifests name them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import yaml

from drucker.bundle.dockerfile import image_environment
from drucker.bundle.manifest import Manifest
from drucker.errors import ConfigurationError
from drucker.settings import Settings


@attrs.frozen
class Ports:
    """gRPC, V2 REST and metrics ports; 0 for a port that is off."""

    grpc: int
    http: int
    metrics: int

    def exposed(self) -> list[int]:
        """The ports that are open, lowest first."""
        return sorted({p for p in (self.grpc, self.http, self.metrics) if p})


def _setting(name: str, raw: dict[str, Any], environment: dict[str, str]) -> int:
    field = attrs.fields_dict(Settings)[name]
    key, env_name = field.metadata["key"], field.metadata["env"]
    value: Any = environment.get(env_name, raw.get(key, field.default))
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{key}: {value!r} is not a port") from None
    if not 0 <= port < 65536:
        raise ConfigurationError(f"{key}: {port} is not a port")
    return port


def bundle_ports(settings_file: Path | None, environment: dict[str, str]) -> Ports:
    """The ports of a server started with ``settings_file`` in ``environment`` (the image's).

    :raises ConfigurationError: when the file cannot be read or a port is not one.
    """
    raw: dict[str, Any] = {}
    if settings_file is not None and settings_file.is_file():
        try:
            loaded = yaml.safe_load(settings_file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"{settings_file}: cannot read the settings: {exc}") from None
        raw = loaded if isinstance(loaded, dict) else {}
    return Ports(
        _setting("port", raw, environment),
        _setting("http_port", raw, environment),
        _setting("metrics_port", raw, environment),
    )


def manifest_ports(bundle: Path | None, manifest: Manifest) -> Ports:
    """The ports of a bundle: its settings file in ``bundle`` and the image's environment
    (without ``bundle``, the environment and the defaults only)."""
    settings = bundle / manifest.settings if bundle is not None else None
    return bundle_ports(settings, image_environment(manifest))
