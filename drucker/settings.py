"""Service settings: ``settings.yml`` with the original Drucker keys, plus ``DRUCKER_*`` overrides.

A settings file is a flat YAML mapping with dotted keys, as in Drucker 0.4.5::

    app.name: iris
    app.port: 5000
    app.service.name: iris-dev
    app.service.level: development
    app.modeldir: ./model
    app.modelfile: iris.joblib
    app.evaldir: ./eval

Precedence, highest first: explicit overrides (command-line flags), environment variables,
the file, the defaults. Every key has one environment variable: the 0.4.5 names for the 0.4.5
keys (``DRUCKER_SERVICE_PORT`` …) and ``DRUCKER_`` + the key upper-cased with dots as
underscores for the rest (``app.workers`` → ``DRUCKER_APP_WORKERS``).

Each field carries its own rule (an attrs validator: a port, at least 1, …), so a Settings is
valid however it was built; :func:`load_settings` remembers which source gave each value and
names that source (option, environment variable, or file and key) when a rule fails. The rules,
the strict conversions and the source tracking live in :mod:`drucker.settings_loader`, which the
dashboard's settings share.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from drucker.settings_loader import (
    FILE_OR_EMPTY,
    NOT_NEGATIVE,
    PORT,
    POSITIVE,
    REQUIRED,
    URL_OR_EMPTY,
    InvalidSetting,
    at_least,
    convert,
    load,
    needs,
    one_of,
    read_settings_file,
    rule,
    setting,
)
from drucker.settings_loader import setting_fields as loader_fields
from drucker.types import ModelSpec

__all__ = [
    "EVENT_LOOPS",
    "LEGACY_KEYS",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "PER_MODEL_KEYS",
    "SETTINGS_FILE_ENV",
    "InvalidSetting",
    "ServiceLevel",
    "Settings",
    "load_settings",
    "model_settings",
    "setting_fields",
]

SETTINGS_FILE_ENV = "DRUCKER_SETTINGS_YAML"

# Keys that 0.4.5 settings files carry but that have no meaning any more: accepted, reported.
LEGACY_KEYS = frozenset(
    {
        "test",
        "use.db",
        "db.mysql.host",
        "db.mysql.port",
        "db.mysql.dbname",
        "db.mysql.user",
        "db.mysql.password",
    }
)


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")
EVENT_LOOPS = ("auto", "uvloop", "asyncio")


class ServiceLevel(enum.Enum):
    """The five service levels of Drucker deployments."""

    DEVELOPMENT = "development"
    BETA = "beta"
    STAGING = "staging"
    SANDBOX = "sandbox"
    PRODUCTION = "production"


@attrs.frozen
class Settings:
    """Typed service settings. Build one with :func:`load_settings`.

    Building one directly checks each field's rule too (:class:`InvalidSetting` on a break).
    """

    application_name: str = setting(
        "app.name", "drucker", "DRUCKER_APPLICATION_NAME", check=REQUIRED
    )
    service_name: str = setting("app.service.name", "default", "DRUCKER_SERVICE_NAME")
    service_level: ServiceLevel = setting(
        "app.service.level", ServiceLevel.DEVELOPMENT, "DRUCKER_SERVICE_LEVEL"
    )
    port: int = setting("app.port", 5000, "DRUCKER_SERVICE_PORT", check=PORT)
    model_dir: str = setting("app.modeldir", "./model", "DRUCKER_SERVICE_MODEL_DIR")
    model_file: str = setting("app.modelfile", "default.model", "DRUCKER_SERVICE_MODEL_FILE")
    eval_dir: str = setting("app.evaldir", "./eval", "DRUCKER_SERVICE_EVAL_DIR")
    #: also serve, at start, every model of the store (<app.modeldir>/<name>/) not named at
    #: start; one that fails to load is UNAVAILABLE in the repository index
    load_models_at_startup: bool = setting("app.load_models_at_startup", True)
    #: a models directory a serving engine's agent fills (Seldon Core 2's /mnt/agent/models:
    #: <dir>/<name>/<version>/ holding the model's files): each model there can be loaded by
    #: the repository under its directory's name, and the start model is left out of the
    #: repository index (the engine manages the repository); empty: none
    repository_models_dir: str = setting("repository.models_dir", "")
    #: address to listen on
    host: str = setting("app.host", "[::]")
    #: server processes sharing the port (SO_REUSEPORT); more use more cores
    workers: int = setting("app.workers", 1, check=at_least(1))
    #: how long in-flight requests may finish on shutdown
    grace_seconds: float = setting("app.grace_seconds", 10.0, check=NOT_NEGATIVE)
    #: threads that run the plugin's predict; 0 runs it on the event loop (fastest for quick models,
    #: but a slow predict then delays every other request)
    predict_threads: int = setting("app.predict_threads", 4, check=NOT_NEGATIVE)
    #: with predict threads, a model whose predict calls are measured to take less than this (ms)
    #: runs them on the event loop instead (no thread hand-off), and goes back to the threads when
    #: it turns slower; 0: always in the threads
    loop_predict_ms: float = setting("app.loop_predict_ms", 1.0, check=NOT_NEGATIVE)
    #: the server's event loop: uvloop (libuv; installed with drucker on Linux and macOS), asyncio
    #: (the standard library's), or auto: uvloop when installed
    event_loop: str = setting("app.event_loop", "auto", check=one_of(EVENT_LOOPS))
    #: largest gRPC message sent or received
    max_message_bytes: int = setting(
        "grpc.max_message_bytes", 64 * 1024 * 1024, check=at_least(1024)
    )
    #: port of the Open Inference Protocol over HTTP (V2 REST) on app.host; 0: off
    http_port: int = setting("http.port", 8080, "DRUCKER_HTTP_PORT", check=PORT)
    #: how long an HTTP request's head, and then its body, may take to arrive: a slow body gets 408,
    #: a slow head a closed connection
    http_read_timeout_seconds: float = setting("http.read_timeout_seconds", 30.0, check=POSITIVE)
    #: emit one log record per prediction
    log_predictions: bool = setting("log.predictions", True)
    #: lowest level logged: debug, info, warning or error
    log_level: str = setting("log.level", "info", check=one_of(LOG_LEVELS))
    #: json (one JSON object a line, the 0.4.5 field names) or text (for a terminal)
    log_format: str = setting("log.format", "json", check=one_of(LOG_FORMATS))
    #: HTTP port of /metrics (Prometheus), /livez and /readyz on app.host; 0: off
    metrics_port: int = setting("metrics.port", 8082, check=PORT)
    #: gather concurrent requests into drucker_predict_batch calls (plugins with one)
    batching: bool = setting("batching.enabled", True)
    #: largest batch
    batch_max_size: int = setting("batching.max_size", 64, check=at_least(1))
    #: pause before a batch that is not full, taken only while requests arrive concurrently, so a
    #: lone caller never waits (0: never pause)
    batch_max_wait_ms: float = setting("batching.max_wait_ms", 1.0, check=NOT_NEGATIVE)
    #: predictions that may wait for the model (queued for the predict threads or the batcher);
    #: more are refused at once (gRPC RESOURCE_EXHAUSTED with a retry pushback, HTTP 429 with
    #: Retry-After); 0: no bound
    admission_max_waiting: int = setting("admission.max_waiting", 128, check=NOT_NEGATIVE)
    #: require a bearer token for management rpcs; false opens them (0.4.5 tooling)
    management_auth: bool = setting("management.auth", True)
    #: the bearer token; empty: generate one at start and write it to the token file
    management_token: str = setting("management.token", "", "DRUCKER_MANAGEMENT_TOKEN")
    #: where a generated token is written (mode 0600); empty:
    #: <app.modeldir>/<app.name>/.management-token
    management_token_file: str = setting("management.token_file", "")
    #: accept the repository rpcs (gRPC RepositoryIndex, RepositoryModelLoad and
    #: RepositoryModelUnload, not their REST twins) without the token from loopback peers only,
    #: for an engine's agent in the same pod (Seldon Core 2); never behind a proxy or mesh
    #: sidecar that forwards outside callers over loopback
    repository_loopback_without_token: bool = setting(
        "management.repository_loopback_without_token", False
    )
    #: require the token for predictions too
    protect_predictions: bool = setting("management.protect_predictions", False)
    #: require the token for ServiceInfo too
    protect_service_info: bool = setting("management.protect_service_info", False)
    #: largest model or data upload
    max_upload_bytes: int = setting("management.max_upload_bytes", 4 * 1024**3)
    #: JSON input predicted with a new model before a switch completes; empty: none
    smoke_input: str = setting("management.smoke_input", "")
    #: most rows of one Open Inference (V2) request; more get RESOURCE_EXHAUSTED
    v2_max_rows: int = setting("v2.max_rows", 100_000, check=at_least(1))
    #: where models, evaluation data, the active-model record and the switch history live
    #: (s3://bucket/prefix, gs://bucket/prefix, file:///shared/path); empty: app.modeldir and
    #: app.evaldir on this machine
    store_url: str = setting("store.url", "", check=URL_OR_EMPTY)
    #: this replica's cache of store objects; empty: <app.modeldir>/<app.name>/.cache
    store_cache_dir: str = setting("store.cache_dir", "")
    #: seconds between checks of the store's active model by each replica (and worker)
    store_follow_interval: float = setting(
        "store.follow_interval",
        2.0,
        check=rule(lambda value: value > 0, "must be above 0, got {value}"),
    )
    #: PEM certificate chain; with tls.key serves TLS
    tls_cert: str = setting("tls.cert", "", check=[needs("tls_key"), FILE_OR_EMPTY])
    #: PEM private key of tls.cert
    tls_key: str = setting("tls.key", "", check=[needs("tls_cert"), FILE_OR_EMPTY])
    #: models served from the start: a list of {name, file, plugin, settings}; --model
    #: NAME=FILE adds to it and wins for its name; ``settings`` maps per-model keys
    #: (PER_MODEL_KEYS) to the model's own values
    models: tuple[ModelSpec, ...] = setting("models", (), check=lambda *a: _check_models(*a))
    source: str | None = attrs.field(default=None, metadata={"internal": True})
    ignored_keys: tuple[str, ...] = attrs.field(default=(), metadata={"internal": True})

    @property
    def model_store_dir(self) -> Path:
        """Where this application's models live: ``<model dir>/<application name>``."""
        return Path(self.model_dir) / self.application_name

    @property
    def eval_store_dir(self) -> Path:
        """Where this application's evaluation data live: ``<eval dir>/<application name>``."""
        return Path(self.eval_dir) / self.application_name

    @property
    def cache_dir(self) -> Path:
        """Where this replica caches objects of a remote store."""
        if self.store_cache_dir:
            return Path(self.store_cache_dir)
        return self.model_store_dir / ".cache"

    @property
    def token_file(self) -> Path:
        """Where a generated management token is written."""
        if self.management_token_file:
            return Path(self.management_token_file)
        return self.model_store_dir / ".management-token"

    @property
    def default_model_path(self) -> Path:
        """The configured model file inside the model store directory."""
        return self.model_store_dir / self.model_file


# The keys a model of the ``models:`` section may give its own value of: how its predictions
# run and queue, and what its log records hold.
PER_MODEL_KEYS = (
    "app.modelfile",
    "app.predict_threads",
    "app.loop_predict_ms",
    "batching.enabled",
    "batching.max_size",
    "batching.max_wait_ms",
    "admission.max_waiting",
    "log.predictions",
    "management.smoke_input",
)


def model_overrides(spec: ModelSpec) -> dict[str, Any]:
    """The converted values of ``spec.settings`` by field name.

    :raises ValueError: for a key that is not a per-model key, or a value of the wrong type.
    """
    attrs.resolve_types(Settings)
    fields = {field.metadata["key"]: field for field in loader_fields(Settings)}
    overrides: dict[str, Any] = {}
    for key, value in spec.settings.items():
        if key not in PER_MODEL_KEYS:
            known = ", ".join(PER_MODEL_KEYS)
            raise ValueError(f"unknown key {key!r} (the keys a model may set: {known})")
        try:
            overrides[fields[key].name] = convert(value, fields[key].type)
        except ValueError as error:
            raise ValueError(f"key {key!r}: {error}") from None
    return overrides


def model_settings(settings: Settings, name: str, spec: ModelSpec | None = None) -> Settings:
    """The settings of model ``name``: the server's, named after it, with its own values."""
    overrides = model_overrides(spec) if spec is not None else {}
    return attrs.evolve(settings, application_name=name, **overrides)


def _check_models(settings: Settings, field: attrs.Attribute[Any], specs: Any) -> None:
    for spec in specs:
        try:
            attrs.evolve(settings, models=(), **model_overrides(spec))
        except InvalidSetting as invalid:
            key = invalid.field.metadata["key"]
            reason = f"model {spec.name!r}: key {key!r}: {invalid.reason}"
            raise InvalidSetting(field, reason) from None
        except ValueError as error:
            raise InvalidSetting(field, f"model {spec.name!r}: {error}") from None


def setting_fields() -> list[attrs.Attribute[Any]]:
    """The settings that can be given in a file or the environment, in declaration order."""
    return loader_fields(Settings)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from the file, the environment and explicit overrides.

    :param path: the settings file; ``None`` uses ``$DRUCKER_SETTINGS_YAML`` or no file at all.
    :param environ: the environment to read ``DRUCKER_*`` variables from (``os.environ``).
    :param overrides: values by field name (e.g. ``{"port": 6000}``) that win over everything;
        errors name them as the command-line option of that name (``--port``).
    :raises ConfigurationError: naming the source that gave the bad value: the option, the
        environment variable, or the file and key.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get(SETTINGS_FILE_ENV):
        path = env[SETTINGS_FILE_ENV]
    source = Path(path) if path is not None else None
    raw = read_settings_file(source) if source is not None else {}
    ignored = tuple(sorted(set(raw) & LEGACY_KEYS))
    return load(
        Settings,
        env,
        file=source,
        raw=raw,
        overrides=overrides,
        tolerated=LEGACY_KEYS,
        internal={"source": str(source) if source else None, "ignored_keys": ignored},
    )
