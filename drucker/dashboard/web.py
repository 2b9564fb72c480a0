"""Shared web plumbing: the application state, who is signed in and what their role allows."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import attrs
from fastapi import Request
from fastapi.templating import Jinja2Templates

import drucker.dashboard.security as security
from drucker.dashboard.config import DashboardSettings
from drucker.dashboard.db import Database
from drucker.dashboard.errors import Refused
from drucker.dashboard.models import Role, User
from drucker.dashboard.operations import UploadProgress
from drucker.dashboard.status import StatusBoard
from drucker.dashboard.trafficlive import TrafficReadings

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
READ_CHUNK = 1024 * 1024


@attrs.frozen
class Viewer:
    """The signed-in user as the web layer sees it (no database session attached)."""

    id: int
    name: str
    role: Role

    @classmethod
    def of(cls, user: User) -> Viewer:
        return cls(user.id, user.name, user.role_enum)

    @property
    def can_edit(self) -> bool:
        return self.role.can_edit

    @property
    def is_admin(self) -> bool:
        return self.role.is_admin


@attrs.define
class State:
    """Everything one dashboard process holds; attached to ``app.state.dashboard``."""

    settings: DashboardSettings
    db: Database
    board: StatusBoard
    limiter: security.LoginLimiter
    templates: Jinja2Templates
    uploads: dict[str, UploadProgress] = attrs.field(factory=dict)
    traffic: TrafficReadings = attrs.field(factory=TrafficReadings)  # the live charts' data

    @property
    def upload_dir(self) -> Path:
        path = Path(self.settings.data_dir) / "uploads"
        path.mkdir(parents=True, exist_ok=True)
        return path


def state(request: Request) -> State:
    return request.app.state.dashboard  # type: ignore[no-any-return]


Denied = Refused  # the old name of the dashboard's refusals


def require(viewer: Viewer, *, edit: bool = False, admin: bool = False) -> Viewer:
    if admin and not viewer.is_admin:
        raise Refused("this needs the admin role", 403)
    if edit and not viewer.can_edit:
        raise Refused("this needs the editor or admin role", 403)
    return viewer


def format_time(value: float | None) -> str:
    if not value:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))


async def in_thread(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a blocking operation in a worker thread."""
    return await asyncio.to_thread(function, *args, **kwargs)
