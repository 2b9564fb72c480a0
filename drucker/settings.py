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
names that source (option, environment variable, or file and key) when a rule fails.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs
import cattrs.gen
import cattrs.v
import yaml

from drucker.errors import ConfigurationError
from drucker.types import ModelSpec

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


class InvalidSetting(ValueError):
    """A setting's value breaks its rule. ``field`` is the attrs field, ``reason`` says why."""

    def __init__(self, field: attrs.Attribute[Any], reason: str) -> None:
        super().__init__(f"key {field.metadata.get('key', field.name)!r}: {reason}")
        self.field = field
        self.reason = reason


Check = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _rule(holds: Callable[[Any], bool], reason: str) -> Check:
    """A field validator: ``reason`` (formatted with ``value``) unless ``holds(value)``."""

    def check(instance: Any, field: attrs.Attribute[Any], value: Any) -> None:
        if not holds(value):
            raise InvalidSetting(field, reason.format(value=value))

    return check


def _at_least(bound: float) -> Check:
    return _rule(lambda value: value >= bound, f"at least {bound}, got {{value}}")


_NOT_NEGATIVE = _rule(lambda value: value >= 0, "must not be negative, got {value}")
_PORT = _rule(lambda value: 0 <= value <= 65535, "{value} is not a port (0 to 65535)")
_REQUIRED = _rule(lambda value: bool(value.strip()), "a value is required")
_FILE_OR_EMPTY = _rule(lambda value: not value or Path(value).is_file(), "no such file {value}")


def _one_of(allowed: tuple[str, ...]) -> Check:
    return _rule(
        lambda value: value in allowed, f"expected one of {', '.join(allowed)}, got {{value!r}}"
    )


def _needs(partner: str) -> Check:
    """Set only together with the field named ``partner`` (both empty or both given)."""

    def check(instance: Any, field: attrs.Attribute[Any], value: Any) -> None:
        if value and not getattr(instance, partner):
            other = attrs.fields_dict(type(instance))[partner].metadata["key"]
            raise InvalidSetting(field, f"needs {other} as well")

    return check


def _setting(
    key: str,
    default: Any,
    env: str | None = None,
    doc: str = "",
    check: Check | list[Check] | None = None,
) -> Any:
    """One setting: its file ``key``, ``default``, environment variable (derived from the key
    unless given), ``doc``, and ``check``: the validator(s) its values must pass."""
    env_name = env or "DRUCKER_" + key.upper().replace(".", "_")
    return attrs.field(
        default=default,
        validator=check,
        metadata={"key": key, "env": env_name, "doc": doc},
    )


@attrs.frozen
class Settings:
    """Typed service settings. Build one with :func:`load_settings`.

    Building one directly checks each field's rule too (:class:`InvalidSetting` on a break).
    """

    application_name: str = _setting(
        "app.name", "drucker", "DRUCKER_APPLICATION_NAME", check=_REQUIRED
    )
    service_name: str = _setting("app.service.name", "default", "DRUCKER_SERVICE_NAME")
    service_level: ServiceLevel = _setting(
        "app.service.level", ServiceLevel.DEVELOPMENT, "DRUCKER_SERVICE_LEVEL"
    )
    port: int = _setting("app.port", 5000, "DRUCKER_SERVICE_PORT", check=_PORT)
    model_dir: str = _setting("app.modeldir", "./model", "DRUCKER_SERVICE_MODEL_DIR")
    model_file: str = _setting("app.modelfile", "default.model", "DRUCKER_SERVICE_MODEL_FILE")
    eval_dir: str = _setting("app.evaldir", "./eval", "DRUCKER_SERVICE_EVAL_DIR")
    load_models_at_startup: bool = _setting(
        "app.load_models_at_startup",
        True,
        doc="also serve, at start, every model of the store (<app.modeldir>/<name>/) not named "
        "at start; one that fails to load is UNAVAILABLE in the repository index",
    )
    host: str = _setting("app.host", "[::]", doc="address to listen on")
    workers: int = _setting(
        "app.workers",
        1,
        doc="server processes sharing the port (SO_REUSEPORT); more use more cores",
        check=_at_least(1),
    )
    grace_seconds: float = _setting(
        "app.grace_seconds",
        10.0,
        doc="how long in-flight requests may finish on shutdown",
        check=_NOT_NEGATIVE,
    )
    predict_threads: int = _setting(
        "app.predict_threads",
        4,
        doc="threads that run the plugin's predict; 0 runs it on the event loop (fastest for "
        "quick models, but a slow predict then delays every other request)",
        check=_NOT_NEGATIVE,
    )
    loop_predict_ms: float = _setting(
        "app.loop_predict_ms",
        1.0,
        doc="with predict threads, a model whose predict calls are measured to take less than "
        "this (ms) runs them on the event loop instead (no thread hand-off), and goes back to "
        "the threads when it turns slower; 0: always in the threads",
        check=_NOT_NEGATIVE,
    )
    event_loop: str = _setting(
        "app.event_loop",
        "auto",
        doc="the server's event loop: uvloop (libuv; installed with drucker on Linux and "
        "macOS), asyncio (the standard library's), or auto: uvloop when installed",
        check=_one_of(EVENT_LOOPS),
    )
    max_message_bytes: int = _setting(
        "grpc.max_message_bytes",
        64 * 1024 * 1024,
        doc="largest gRPC message sent or received",
        check=_at_least(1024),
    )
    http_port: int = _setting(
        "http.port",
        8080,
        "DRUCKER_HTTP_PORT",
        doc="port of the Open Inference Protocol over HTTP (V2 REST) on app.host; 0: off",
        check=_PORT,
    )
    http_read_timeout_seconds: float = _setting(
        "http.read_timeout_seconds",
        30.0,
        doc="how long an HTTP request's head, and then its body, may take to arrive: a slow "
        "body gets 408, a slow head a closed connection",
        check=_rule(lambda value: value > 0, "must be more than 0, got {value}"),
    )
    log_predictions: bool = _setting(
        "log.predictions", True, doc="emit one log record per prediction"
    )
    log_level: str = _setting(
        "log.level",
        "info",
        doc="lowest level logged: debug, info, warning or error",
        check=_one_of(LOG_LEVELS),
    )
    log_format: str = _setting(
        "log.format",
        "json",
        doc="json (one JSON object a line, the 0.4.5 field names) or text (for a terminal)",
        check=_one_of(LOG_FORMATS),
    )
    metrics_port: int = _setting(
        "metrics.port",
        8082,
        doc="HTTP port of /metrics (Prometheus), /livez and /readyz on app.host; 0: off",
        check=_PORT,
    )
    batching: bool = _setting(
        "batching.enabled",
        True,
        doc="gather concurrent requests into drucker_predict_batch calls (plugins with one)",
    )
    batch_max_size: int = _setting("batching.max_size", 64, doc="largest batch", check=_at_least(1))
    batch_max_wait_ms: float = _setting(
        "batching.max_wait_ms",
        1.0,
        doc="pause before a batch that is not full, taken only while requests arrive "
        "concurrently, so a lone caller never waits (0: never pause)",
        check=_NOT_NEGATIVE,
    )
    management_auth: bool = _setting(
        "management.auth",
        True,
        doc="require a bearer token for management rpcs; false opens them (0.4.5 tooling)",
    )
    management_token: str = _setting(
        "management.token",
        "",
        "DRUCKER_MANAGEMENT_TOKEN",
        doc="the bearer token; empty: generate one at start and write it to the token file",
    )
    management_token_file: str = _setting(
        "management.token_file",
        "",
        doc="where a generated token is written (mode 0600); empty: "
        "<app.modeldir>/<app.name>/.management-token",
    )
    protect_predictions: bool = _setting(
        "management.protect_predictions", False, doc="require the token for predictions too"
    )
    protect_service_info: bool = _setting(
        "management.protect_service_info", False, doc="require the token for ServiceInfo too"
    )
    max_upload_bytes: int = _setting(
        "management.max_upload_bytes", 4 * 1024**3, doc="largest model or data upload"
    )
    smoke_input: str = _setting(
        "management.smoke_input",
        "",
        doc="JSON input predicted with a new model before a switch completes; empty: none",
    )
    v2_max_rows: int = _setting(
        "v2.max_rows",
        100_000,
        doc="most rows of one Open Inference (V2) request; more get RESOURCE_EXHAUSTED",
        check=_at_least(1),
    )
    store_url: str = _setting(
        "store.url",
        "",
        doc="where models, evaluation data, the active-model record and the switch history live "
        "(s3://bucket/prefix, gs://bucket/prefix, file:///shared/path); empty: app.modeldir "
        "and app.evaldir on this machine",
        check=_rule(lambda value: not value or "://" in value, "expected a URL, got {value!r}"),
    )
    store_cache_dir: str = _setting(
        "store.cache_dir",
        "",
        doc="this replica's cache of store objects; empty: <app.modeldir>/<app.name>/.cache",
    )
    store_follow_interval: float = _setting(
        "store.follow_interval",
        2.0,
        doc="seconds between checks of the store's active model by each replica (and worker)",
        check=_rule(lambda value: value > 0, "must be above 0, got {value}"),
    )
    tls_cert: str = _setting(
        "tls.cert",
        "",
        doc="PEM certificate chain; with tls.key serves TLS",
        check=[_needs("tls_key"), _FILE_OR_EMPTY],
    )
    tls_key: str = _setting(
        "tls.key",
        "",
        doc="PEM private key of tls.cert",
        check=[_needs("tls_cert"), _FILE_OR_EMPTY],
    )
    models: tuple[ModelSpec, ...] = _setting(
        "models",
        (),
        doc="models served from the start: a list of {name, file, plugin}; --model NAME=FILE "
        "adds to it and wins for its name",
    )
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


def setting_fields() -> list[attrs.Attribute[Any]]:
    """The settings that can be given in a file or the environment, in declaration order."""
    return [f for f in attrs.fields(Settings) if "key" in f.metadata]


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"expected a number, got {value!r}")


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _strict_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected true or false, got {value!r}")


def _strict_str(value: Any, _: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # YAML reads `app.service.name: 001` as a number
    raise ValueError(f"expected a string, got {value!r}")


def _service_level(value: Any, _: type) -> ServiceLevel:
    try:
        return ServiceLevel(value)
    except ValueError:
        allowed = ", ".join(level.value for level in ServiceLevel)
        raise ValueError(f"expected one of {allowed}, got {value!r}") from None


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(ServiceLevel, _service_level)
    converter.register_structure_hook(
        ModelSpec,
        cattrs.gen.make_dict_structure_fn(ModelSpec, converter, _cattrs_forbid_extra_keys=True),
    )
    return converter


_converter = _make_converter()
attrs.resolve_types(Settings)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read settings file: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: expected a mapping of keys to values")
    return {str(key): value for key, value in data.items()}


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
    raw = _read_file(source) if source is not None else {}

    by_key = {f.metadata["key"]: f for f in setting_fields()}
    unknown = sorted(set(raw) - set(by_key) - LEGACY_KEYS)
    if unknown:
        known = ", ".join(sorted(by_key))
        raise ConfigurationError(f"{source}: unknown key {unknown[0]!r} (known keys: {known})")

    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for field in setting_fields():
        key, env_name = field.metadata["key"], field.metadata["env"]
        if env_name in env:
            origins[field.name], value = f"environment variable {env_name}", env[env_name]
        elif key in raw:
            origins[field.name], value = f"{source}: key {key!r}", raw[key]
        else:
            continue
        values[field.name] = _structure(field, value, origins[field.name])
    fields = attrs.fields_dict(Settings)
    for name, value in (overrides or {}).items():
        origins[name] = f"option --{name.replace('_', '-')}"
        values[name] = _structure(fields[name], value, origins[name])

    ignored = tuple(sorted(set(raw) & LEGACY_KEYS))
    try:
        return Settings(**values, source=str(source) if source else None, ignored_keys=ignored)
    except InvalidSetting as invalid:
        where = origins.get(invalid.field.name, f"default of {invalid.field.metadata['key']!r}")
        raise ConfigurationError(f"{where}: {invalid.reason}") from None


def _fault(error: BaseException, type_: Any) -> str:
    """A validator's own message, else cattrs' words for the fault."""
    if isinstance(error, ValueError) and not isinstance(error, cattrs.BaseValidationError):
        return str(error)
    return cattrs.v.format_exception(error, type_)


def _structure(field: attrs.Attribute[Any], value: Any, origin: str) -> Any:
    if value is None:
        raise ConfigurationError(f"{origin}: a value is required")
    try:
        return _converter.structure(value, field.type)  # type: ignore[arg-type]
    except cattrs.BaseValidationError as exc:  # e.g. an entry of models: names each fault
        faults = cattrs.transform_error(exc, format_exception=_fault)
        raise ConfigurationError(f"{origin}: {'; '.join(faults)}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{origin}: {exc}") from None
