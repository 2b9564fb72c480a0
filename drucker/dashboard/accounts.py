"""Users, their API tokens and their sign-in sessions."""

from __future__ import annotations

import functools

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

import drucker.dashboard.security as security
from drucker.dashboard.errors import Refused
from drucker.dashboard.models import ApiToken, LoginSession, Role, User, now

NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


AccountError = Refused  # the old name of a refused user name, role or password


def check_name(name: str) -> str:
    if not 1 <= len(name) <= 64 or not set(name) <= NAME_CHARS:
        raise Refused("a user name is 1-64 letters, digits or . _ - @")
    return name


def create_user(session: Session, name: str, role: str, password: str) -> User:
    """A new user. :raises Refused: for a bad or taken name, role or short password."""
    check_name(name)
    try:
        Role(role)
    except ValueError:
        raise Refused(f"role must be one of {', '.join(r.value for r in Role)}") from None
    if len(password) < 8:
        raise Refused("a password has at least 8 characters")
    if find_user(session, name) is not None:
        raise Refused(f"user {name!r} exists", 409)
    user = User(name=name, role=role, password_hash=security.hash_password(password))
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


def authenticate(session: Session, name: str, password: str) -> User | None:
    """The user when the password matches; ``None`` otherwise."""
    user = find_user(session, name)
    if user is None:
        security.check_password(_dummy_hash(), password)  # same work for unknown names
        return None
    return user if security.check_password(user.password_hash, password) else None


@functools.cache
def _dummy_hash() -> str:
    return security.hash_password("not a password of anyone")


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def issue_token(session: Session, user: User | int, name: str) -> str:
    """A new API token for ``user`` (or its id); the clear token is returned once and never
    stored."""
    token = security.new_api_token()
    user_id = user if isinstance(user, int) else user.id
    digest = security.token_digest(token)
    session.add(ApiToken(user_id=user_id, name=name[:64] or "token", token_sha256=digest))
    session.flush()
    return token


def user_of_token(session: Session, token: str) -> User | None:
    """The owner of an API token, noting its use; ``None`` for an unknown token."""
    record = session.scalar(
        select(ApiToken).where(ApiToken.token_sha256 == security.token_digest(token))
    )
    if record is None:
        return None
    record.last_used_at = now()
    return record.user


def open_session(session: Session, user_id: int, lifetime: float) -> str:
    """A new sign-in session of ``user_id`` for ``lifetime`` seconds; its id, for the cookie
    only (the database keeps its sha256)."""
    sid = security.new_api_token()
    digest = security.token_digest(sid)
    session.add(LoginSession(user_id=user_id, sid_sha256=digest, expires_at=now() + lifetime))
    session.flush()
    return sid


def user_of_session(session: Session, sid: str) -> User | None:
    """The user signed in by session ``sid``; ``None`` when it was closed or has expired."""
    record = session.scalar(
        select(LoginSession).where(LoginSession.sid_sha256 == security.token_digest(sid))
    )
    if record is None or record.expires_at <= now():
        return None
    return session.get(User, record.user_id)


def close_session(session: Session, sid: str) -> None:
    """End session ``sid`` (sign-out), and every expired session while at it."""
    session.execute(
        delete(LoginSession).where(
            (LoginSession.sid_sha256 == security.token_digest(sid))
            | (LoginSession.expires_at <= now())
        )
    )
