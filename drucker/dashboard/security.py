"""Passwords (argon2), API tokens, CSRF tokens and the sign-in rate limit."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import secrets
import time
import urllib.parse
from collections.abc import AsyncIterator, Mapping

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
TOKEN_PREFIX = "drk_"


SESSION_SECONDS = 12 * 3600  # a sign-in lasts this long (the cookie and the server record)


def hash_password(password: str) -> str:
    """An argon2id hash with a random salt."""
    return _hasher.hash(password)


def check_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches the hash (never raises for a wrong password)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """A generated password for ``create-user`` when none is given."""
    return secrets.token_urlsafe(15)


def new_api_token() -> str:
    """A new API token; only :func:`token_digest` of it is stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing token never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def same_site_path(target: str, default: str = "/") -> str:
    """``target`` when it is a path on this site, else ``default``: where to go after sign-in.

    Refused: anything not starting with one ``/`` (``//host`` and ``/\\host`` name another
    host to a browser), a scheme or host, backslashes and control characters, and the same
    tricks percent-encoded (checked after decoding until nothing changes).
    """
    seen = target
    for _ in range(4):
        if not _plain_path(seen):
            return default
        decoded = urllib.parse.unquote(seen)
        if decoded == seen:
            return target
        seen = decoded
    return default  # encoded more deeply than any real link


def _plain_path(path: str) -> bool:
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return False
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        return False
    parts = urllib.parse.urlsplit(path)
    return not parts.scheme and not parts.netloc


class LoginLimiter:
    """Throttles sign-in guesses per user name and client address, without locking anyone out.

    After ``attempts`` failures within ``window`` seconds, each further attempt for that name
    from that address waits first, twice as long as the one before (1 s, 2 s, 4 s, … at most
    ``max_delay``), and such attempts run one at a time: a guesser is slowed to one guess per
    ``max_delay``, while the rightful user's correct password still signs in, only later.

    Memory stays bounded under a spray of made-up names: a name and address is remembered only
    while it has failures inside the window, entries past it are swept at least once a window,
    and at most ``max_entries`` are kept (the oldest go first).
    """

    def __init__(
        self, attempts: int, window: float, max_delay: float = 30.0, max_entries: int = 100_000
    ) -> None:
        self.attempts = attempts
        self.window = window
        self.max_delay = max_delay
        self.max_entries = max_entries
        self._failures: dict[tuple[str, str], collections.deque[float]] = {}
        self._turns: dict[tuple[str, str], asyncio.Lock] = {}
        self._next_sweep = time.monotonic() + window

    def __len__(self) -> int:
        """How many name-and-address entries are remembered."""
        return len(self._failures)

    def _recent(self, key: tuple[str, str]) -> int:
        failures = self._failures.get(key)
        if failures is None:
            return 0
        cutoff = time.monotonic() - self.window
        while failures and failures[0] < cutoff:
            failures.popleft()
        if not failures:
            self._forget(key)
        return len(failures)

    def _forget(self, key: tuple[str, str]) -> None:
        self._failures.pop(key, None)
        lock = self._turns.get(key)
        if lock is not None and not lock.locked():
            del self._turns[key]

    def _sweep(self, now: float) -> None:
        cutoff = now - self.window
        for key in [key for key, times in self._failures.items() if times[-1] < cutoff]:
            self._forget(key)
        # Insertion order is first-failure order: past the cap, the oldest entries go.
        excess = len(self._failures) - self.max_entries
        for key in list(self._failures)[: max(0, excess)]:
            self._forget(key)
        for key, lock in list(self._turns.items()):
            if key not in self._failures and not lock.locked():
                del self._turns[key]
        self._next_sweep = now + self.window

    def delay(self, user: str, client: str) -> float:
        """Seconds the next attempt for ``user`` from ``client`` waits (0: none)."""
        over = self._recent((user.lower(), client)) - self.attempts
        return 0.0 if over < 0 else min(self.max_delay, 2.0**over)

    @contextlib.asynccontextmanager
    async def turn(self, user: str, client: str) -> AsyncIterator[None]:
        """Wait as :meth:`delay` says, one throttled attempt per name and address at a time."""
        key = (user.lower(), client)
        if self.delay(user, client) == 0:
            yield
            return
        lock = self._turns.setdefault(key, asyncio.Lock())
        async with lock:
            await asyncio.sleep(self.delay(user, client))
            yield

    def failed(self, user: str, client: str) -> None:
        """Count a failed attempt (and sweep what the window has left behind, when due)."""
        now = time.monotonic()
        self._failures.setdefault((user.lower(), client), collections.deque()).append(now)
        if now >= self._next_sweep or len(self._failures) > self.max_entries:
            self._sweep(now)

    def succeeded(self, user: str, client: str) -> None:
        """Forget the failures of ``user`` from ``client``."""
        self._forget((user.lower(), client))


def client_address(peer: str | None, headers: Mapping[str, str], header: str) -> str:
    """The client's address: the last entry of ``header`` (what the proxy next to us saw)
    when that setting names one and the request carries it, else the connection's peer."""
    if header:
        given = headers.get(header, "")
        last = given.split(",")[-1].strip()
        if last:
            return last
    return peer or "?"
