"""What the pages and the API read: one function a question, each in its own session.

Rows come back detached (the session closes with ``expire_on_commit`` off), so they can be
read after the query; changes go through :mod:`drucker.dashboard.operations`.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select

import drucker.dashboard.accounts as accounts
import drucker.dashboard.audit as audit
from drucker.dashboard.db import Database
from drucker.dashboard.errors import Refused
from drucker.dashboard.models import (
    AuditEntry,
    Evaluation,
    ModelNote,
    Service,
    Switch,
    Table,
    User,
)

Row = TypeVar("Row", bound=Table)


def _one(db: Database, table: type[Row], row_id: int, what: str) -> Row:
    with db.session() as session:
        row = session.get(table, row_id)
    if row is None:
        raise Refused(f"no {what} {row_id}", 404)
    return row


def service(db: Database, service_id: int) -> Service:
    """One registered service. :raises Refused: (404) when there is none."""
    return _one(db, Service, service_id, "service")


def services(db: Database) -> list[Service]:
    """Every registered service, ordered for display."""
    order = (Service.application, Service.level, Service.address)
    with db.session() as session:
        return list(session.scalars(select(Service).order_by(*order)))


def services_of_level(db: Database, application: str, level: str) -> list[Service]:
    """The services of one application at one level, by address."""
    query = select(Service).where(Service.application == application, Service.level == level)
    with db.session() as session:
        return list(session.scalars(query.order_by(Service.address)))


def notes(db: Database, application: str) -> dict[str, ModelNote]:
    """The newest dashboard note of each model name of an application."""
    query = select(ModelNote).where(ModelNote.application == application)
    with db.session() as session:
        return {note.name: note for note in session.scalars(query.order_by(ModelNote.id))}


def history(db: Database, service_id: int, model: str = "") -> list[Switch]:
    """The switches of a service's model (``""``: its default model), newest first."""
    query = select(Switch).where(Switch.service_id == service_id, Switch.model == model)
    with db.session() as session:
        return list(session.scalars(query.order_by(Switch.id.desc())))


def evaluations(
    db: Database, application: str | None = None, *, besides: int | None = None
) -> list[Evaluation]:
    """Kept evaluations, newest first: of one application when given, without ``besides``."""
    query = select(Evaluation).order_by(Evaluation.id.desc())
    if application:
        query = query.where(Evaluation.application == application)
    if besides is not None:
        query = query.where(Evaluation.id != besides)
    with db.session() as session:
        return list(session.scalars(query))


def evaluation(db: Database, evaluation_id: int) -> Evaluation:
    """One kept evaluation. :raises Refused: (404) when there is none."""
    return _one(db, Evaluation, evaluation_id, "evaluation")


def audit_entries(
    db: Database, *, application: str | None = None, user: str | None = None, limit: int = 200
) -> list[AuditEntry]:
    """The newest audit entries first, filtered by application and user when given."""
    with db.session() as session:
        return audit.entries(session, application=application, user=user, limit=limit)


def users(db: Database) -> list[User]:
    """Every user, by name."""
    with db.session() as session:
        return accounts.list_users(session)


def session_user(db: Database, sid: str) -> User | None:
    """The user signed in by session ``sid``; ``None`` once signed out or expired."""
    with db.session() as session:
        return accounts.user_of_session(session, sid)


def user(db: Database, user_id: int) -> User | None:
    """One user by id; ``None`` when removed."""
    with db.session() as session:
        return session.get(User, user_id)
