"""Dashboard settings: a flat YAML file with ``dashboard.*`` keys, ``DRUCKER_DASHBOARD_*``
environment overrides and command-line options, as ``drucker serve`` reads its own.

    dashboard.host: 127.0.0.1
    dashboard.port: 18080
    dashboard.database: postgresql://dashboard@db.example/dashboard
    dashboard.data_dir: /var/lib/drucker-dashboard
    dashboard.secret_key: ...

Precedence, highest first: options, environment, file, defaults. The loader is the one of
``drucker serve`` (:mod:`drucker.settings_loader`): each value passes its key's rule (a port,
not negative, …), and a bad one is named with its source (option, environment variable, or
file and key). Without a database URL the
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

from drucker.settings_loader import (
    NOT_NEGATIVE,
    PORT,
    POSITIVE,
    URL_OR_EMPTY,
    at_least,
    load,
    read_settings_file,
    setting,
)
from drucker.settings_loader import env_name as env_name

SETTINGS_FILE_ENV = "DRUCKER_DASHBOARD_SETTINGS"
SECRET_FILE = "secret-key"


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "drucker-dashboard")


@attrs.frozen
class DashboardSettings:
    """Typed dashboard settings; build them with :func:`load_dashboard_settings`.

    Building them directly checks each field's rule too (``InvalidSetting`` on a break).
    """

    #: address to listen on
    host: str = setting("dashboard.host", "127.0.0.1")
    #: port to listen on
    port: int = setting("dashboard.port", 18080, check=PORT)
    #: SQLAlchemy URL; empty: SQLite in the data directory
    database: str = setting("dashboard.database", "", check=URL_OR_EMPTY)
    #: the SQLite file and secret key
    data_dir: str = setting("dashboard.data_dir", factory=_default_data_dir)
    #: signs sessions; empty: generated, kept in data_dir
    secret_key: str = setting("dashboard.secret_key", "")
    #: seconds a service's status is reused
    status_ttl: float = setting("dashboard.status_ttl", 2.0, check=NOT_NEGATIVE)
    #: seconds a status call may take
    status_timeout: float = setting("dashboard.status_timeout", 1.5, check=POSITIVE)
    #: failed sign-ins allowed a window
    login_attempts: int = setting("dashboard.login_attempts", 5, check=at_least(1))
    #: seconds failed sign-ins count
    login_window: float = setting("dashboard.login_window", 60.0, check=POSITIVE)
    #: longest wait before a throttled sign-in attempt is answered
    login_max_delay: float = setting("dashboard.login_max_delay", 30.0, check=POSITIVE)
    #: header a reverse proxy puts the client address in (its last entry counts); empty: none
    client_address_header: str = setting("dashboard.client_address_header", "")

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL: the configured one, else SQLite in the data directory."""
        if self.database:
            return normalized_database_url(self.database)
        return f"sqlite:///{Path(self.data_dir) / 'dashboard.sqlite3'}"


def normalized_database_url(url: str) -> str:
    """``postgresql://`` URLs use the psycopg 3 driver (the one the extra installs)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_dashboard_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> DashboardSettings:
    """Settings from the file, the environment and options (``None`` options are ignored).

    :param path: the settings file; ``None`` uses ``$DRUCKER_DASHBOARD_SETTINGS`` or none.
    :raises ConfigurationError: naming the key and where its value came from: the option, the
        environment variable, or the file and key.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get(SETTINGS_FILE_ENV):
        path = env[SETTINGS_FILE_ENV]
    source = Path(path) if path is not None else None
    given = {name: value for name, value in (overrides or {}).items() if value is not None}
    return load(
        DashboardSettings,
        env,
        file=source,
        raw=read_settings_file(source) if source is not None else {},
        overrides=given,
    )


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
