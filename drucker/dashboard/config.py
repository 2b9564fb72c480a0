"""Dashboard settings: a flat YAML file with ``dashboard.*`` keys, ``DRUCKER_DASHBOARD_*``
environment overrides and command-line options, as ``drucker serve`` reads its own.

    dashboard.host: 127.0.0.1
    dashboard.port: 18080
    dashboard.database: postgresql://dashboard@db.example/dashboard
    dashboard.data_dir: /var/lib/drucker-dashboard
    dashboard.secret_key: ...

Precedence, highest first: options, environment, file, defaults. Without a database URL the
dashboard keeps an SQLite file in its data directory; without a secret key it generates one and
stores it there with mode 0600, so sessions survive a restart.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from drucker.errors import ConfigurationError

SETTINGS_FILE_ENV = "DRUCKER_DASHBOARD_SETTINGS"
SECRET_FILE = "secret-key"


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "drucker-dashboard")


@attrs.frozen
class DashboardSettings:
    """Typed dashboard settings; build them with :func:`load_dashboard_settings`."""

    host: str = "127.0.0.1"
    port: int = 18080
    database: str = ""
    data_dir: str = attrs.field(factory=_default_data_dir)
    secret_key: str = ""
    status_ttl: float = 2.0
    status_timeout: float = 1.5
    login_attempts: int = 5
    login_window: float = 60.0

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL: the configured one, else SQLite in the data directory."""
        if self.database:
            return normalized_database_url(self.database)
        return f"sqlite:///{Path(self.data_dir) / 'dashboard.sqlite3'}"


_KEYS: dict[str, tuple[str, type]] = {
    "dashboard.host": ("host", str),
    "dashboard.port": ("port", int),
    "dashboard.database": ("database", str),
    "dashboard.data_dir": ("data_dir", str),
    "dashboard.secret_key": ("secret_key", str),
    "dashboard.status_ttl": ("status_ttl", float),
    "dashboard.status_timeout": ("status_timeout", float),
    "dashboard.login_attempts": ("login_attempts", int),
    "dashboard.login_window": ("login_window", float),
}


def env_name(key: str) -> str:
    """``dashboard.port`` → ``DRUCKER_DASHBOARD_PORT``."""
    return "DRUCKER_" + key.upper().replace(".", "_")


def normalized_database_url(url: str) -> str:
    """``postgresql://`` URLs use the psycopg 3 driver (the one the extra installs)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _convert(value: Any, kind: type, origin: str) -> Any:
    if value is None or isinstance(value, bool):
        raise ConfigurationError(f"{origin}: expected {kind.__name__}, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{origin}: expected {kind.__name__}, got {value!r}") from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read settings file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: expected a mapping of keys to values")
    unknown = sorted(set(map(str, data)) - set(_KEYS))
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown key {unknown[0]!r} (known keys: {', '.join(sorted(_KEYS))})"
        )
    return {str(key): value for key, value in data.items()}


def load_dashboard_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> DashboardSettings:
    """Settings from the file, the environment and options (``None`` options are ignored).

    :raises ConfigurationError: naming the key and where its value came from.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get(SETTINGS_FILE_ENV):
        path = env[SETTINGS_FILE_ENV]
    raw = _read_file(Path(path)) if path is not None else {}
    values: dict[str, Any] = {}
    for key, (field, kind) in _KEYS.items():
        if env_name(key) in env:
            values[field] = _convert(env[env_name(key)], kind, f"environment {env_name(key)}")
        elif key in raw:
            values[field] = _convert(raw[key], kind, f"{path}: key {key!r}")
    values.update({name: value for name, value in (overrides or {}).items() if value is not None})
    settings = DashboardSettings(**values)
    if not 0 <= settings.port <= 65535:
        raise ConfigurationError(f"key 'dashboard.port': {settings.port} is not a port")
    return settings


def ensure_secret_key(settings: DashboardSettings) -> DashboardSettings:
    """The settings with a secret key: the given one, else one stored in the data directory."""
    if settings.secret_key:
        return settings
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(48)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
    return attrs.evolve(settings, secret_key=key)
