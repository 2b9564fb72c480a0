"""What ``drucker serve`` was asked for, and the settings that makes."""

from __future__ import annotations

import attrs

from drucker.plugins import DISABLE_PREFIX
from drucker.settings import Settings, load_settings


@attrs.frozen
class ServeOptions:
    """What ``drucker serve`` was asked for; ``None`` means "from the settings"."""

    plugin: str | None = None
    settings_file: str | None = None
    model_file: str | None = None
    model_sha256: str | None = None
    port: int | None = None
    host: str | None = None
    http_port: int | None = None  # the V2 REST port (0: off)
    metrics_port: int | None = None  # the metrics and probes port (0: off)
    workers: int | None = None
    worker: bool = False  # a child of the supervisor: bind with SO_REUSEPORT
    disabled_plugins: tuple[str, ...] = ()  # additive plugins not to load (-p no:NAME)
    force_model: bool = False  # serve model_file even when the store remembers a switch
    model_name: str | None = None  # the name the model serves under (app.name)
    models: tuple[tuple[str, str], ...] = ()  # --model NAME=FILE, in order
    # Why the server starts without a model and stays not ready (an engine's model directory
    # that is empty, missing or ambiguous); ``None``: it loads its model as usual.
    not_ready: str | None = None

    def worker_args(self) -> list[str]:
        """The command-line arguments a worker process needs (the port is added)."""
        args: list[str] = []
        for name in self.disabled_plugins:
            args += ["--plugin", DISABLE_PREFIX + name]
        for flag, value in (
            ("--plugin", self.plugin),
            ("--settings", self.settings_file),
            ("--model", self.model_file),
            ("--model-sha256", self.model_sha256),
            ("--model-name", self.model_name),
            ("--host", self.host),
            ("--http-port", None if self.http_port is None else str(self.http_port)),
            ("--metrics-port", None if self.metrics_port is None else str(self.metrics_port)),
        ):
            if value is not None:
                args += [flag, value]
        for name, path in self.models:
            args += ["--model", f"{name}={path}"]
        if self.force_model:
            args.append("--force-model")
        if self.not_ready is not None:
            args += ["--not-ready", self.not_ready]
        return args


def build_settings(options: ServeOptions) -> Settings:
    """Settings from the file and environment, with the command-line overrides on top."""
    overrides: dict[str, object] = {}
    if options.port is not None:
        overrides["port"] = options.port
    if options.host is not None:
        overrides["host"] = options.host
    if options.model_name is not None:
        overrides["application_name"] = options.model_name
    if options.http_port is not None:
        overrides["http_port"] = options.http_port
    if options.metrics_port is not None:
        overrides["metrics_port"] = options.metrics_port
    if options.worker:
        overrides["workers"] = 1
    elif options.workers is not None:
        overrides["workers"] = options.workers
    return load_settings(options.settings_file, overrides=overrides)
