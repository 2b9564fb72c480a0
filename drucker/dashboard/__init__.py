"""The drucker dashboard: a web service that manages many drucker services.

Install it with ``pip install 'drucker[dashboard]'`` and run ``drucker dashboard``. It registers
services by address, shows their health, serving model and traffic, uploads and switches models
(with a switch history for one-click rollback), keeps evaluation results with charts, audits
every change, and offers the same as a JSON API. It talks to services only through
:mod:`drucker.client`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drucker.dashboard.config import DashboardSettings, load_dashboard_settings

if TYPE_CHECKING:
    from drucker.dashboard.app import create_app

__all__ = ["DashboardSettings", "create_app", "load_dashboard_settings"]


def __getattr__(name: str) -> Any:
    # The web application (FastAPI, templates) is imported only when asked for, so commands
    # such as `create-user` start quickly.
    if name == "create_app":
        from drucker.dashboard.app import create_app

        return create_app
    raise AttributeError(name)
