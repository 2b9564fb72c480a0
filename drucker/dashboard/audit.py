"""The audit log: every change, who made it and how it ended."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from drucker.dashboard.models import AuditEntry, Service


def record(
    session: Session,
    user: str,
    action: str,
    *,
    application: str = "",
    target: str = "",
    before: str = "",
    after: str = "",
    ok: bool = True,
    message: str = "",
) -> AuditEntry:
    """Add one entry (committed with the session)."""
    entry = AuditEntry(
        user=user,
        action=action,
        application=application,
        target=target,
        before=before,
        after=after,
        ok=ok,
        message=message[:2000],
    )
    session.add(entry)
    session.flush()
    return entry


def on_service(
    session: Session, user: str, action: str, service: Service, model: str = "", **details: Any
) -> AuditEntry:
    """Add one entry about a change of ``service`` (its application and address), or of its
    model ``model`` on a server of several (the target is ``ADDRESS/MODEL``)."""
    return record(
        session,
        user,
        action,
        application=service.application,
        target=f"{service.address}/{model}" if model else service.address,
        **details,
    )


def entries(
    session: Session,
    *,
    application: str | None = None,
    user: str | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """The newest entries first, filtered by application and user when given."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if application:
        query = query.where(AuditEntry.application == application)
    if user:
        query = query.where(AuditEntry.user == user)
    return list(session.scalars(query))
