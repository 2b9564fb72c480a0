"""The dashboard's tables (SQLAlchemy 2 declarative); the schema itself comes from migrations.

Times are seconds since the epoch (UTC), which sort and compare the same on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import enum
import time
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Role(enum.StrEnum):
    """What a user may do: admins manage users and services, editors change models."""

    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"

    @property
    def can_edit(self) -> bool:
        return self in (Role.ADMIN, Role.EDITOR)

    @property
    def is_admin(self) -> bool:
        return self is Role.ADMIN


LEVELS = ("development", "beta", "staging", "sandbox", "production")


def now() -> float:
    return time.time()


class Base(DeclarativeBase):
    pass


class Table(Base):
    """A table of the dashboard: rows have an integer primary key ``id``."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class User(Table):
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float, default=now)
    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class ApiToken(Table):
    """A user's API token; only its sha256 is kept (the token is shown once)."""

    __tablename__ = "api_tokens"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    last_used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    user: Mapped[User] = relationship(back_populates="tokens")


class LoginSession(Table):
    """A signed-in browser session; the cookie carries its id, only the sha256 is kept. Signing
    out deletes it, so a replayed cookie no longer signs anyone in; it also ends at
    ``expires_at`` and with its user."""

    __tablename__ = "login_sessions"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sid_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    expires_at: Mapped[float] = mapped_column(Float)


class Service(Table):
    """A registered drucker service; its token and CA never leave the server."""

    __tablename__ = "services"
    address: Mapped[str] = mapped_column(String(255), unique=True)
    token: Mapped[str] = mapped_column(Text, default="")
    tls_ca: Mapped[str] = mapped_column(Text, default="")
    metrics_url: Mapped[str] = mapped_column(String(1024), default="")
    application: Mapped[str] = mapped_column(String(128), index=True)
    service_name: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(16))
    k8s_manifests: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float, default=now)


class ModelNote(Table):
    """What the dashboard knows of a model it uploaded: who, when, a description."""

    __tablename__ = "model_notes"
    application: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[float] = mapped_column(Float, default=now)


class Switch(Table):
    """One switch of a service's model (a rollback is a switch too): the rollback history.
    ``model`` names the model switched on a server of several ("": its default model)."""

    __tablename__ = "switches"
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    model: Mapped[str] = mapped_column(String(255), default="", server_default="")
    from_model: Mapped[str] = mapped_column(String(255))
    to_model: Mapped[str] = mapped_column(String(255))
    is_rollback: Mapped[bool] = mapped_column(Boolean, default=False)
    ok: Mapped[bool] = mapped_column(Boolean)
    user: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float, default=now)


class Evaluation(Table):
    """A kept evaluation result: the metrics, the confusion matrix and the per-sample CSV."""

    __tablename__ = "evaluations"
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL"), nullable=True
    )
    application: Mapped[str] = mapped_column(String(128), index=True)
    service_address: Mapped[str] = mapped_column(String(255))
    data_name: Mapped[str] = mapped_column(String(255))
    result_name: Mapped[str] = mapped_column(String(255))
    model_name: Mapped[str] = mapped_column(String(255))
    model_sha256: Mapped[str] = mapped_column(String(64), default="")
    num: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float] = mapped_column(Float)
    labels: Mapped[list[str]] = mapped_column(JSON)
    precision: Mapped[list[float]] = mapped_column(JSON)
    recall: Mapped[list[float]] = mapped_column(JSON)
    f1: Mapped[list[float]] = mapped_column(JSON)
    confusion: Mapped[list[list[int]]] = mapped_column(JSON)
    details_csv: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float, default=now)


class AuditEntry(Table):
    """One change: who did what, on which service, from what to what, when, with what result."""

    __tablename__ = "audit"
    at: Mapped[float] = mapped_column(Float, default=now, index=True)
    user: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    application: Mapped[str] = mapped_column(String(128), default="", index=True)
    target: Mapped[str] = mapped_column(String(255), default="")
    before: Mapped[str] = mapped_column(Text, default="")
    after: Mapped[str] = mapped_column(Text, default="")
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    message: Mapped[str] = mapped_column(Text, default="")

    def as_dict(self) -> dict[str, Any]:
        return {
            column: getattr(self, column)
            for column in (
                "id",
                "at",
                "user",
                "action",
                "application",
                "target",
                "before",
                "after",
                "ok",
                "message",
            )
        }
