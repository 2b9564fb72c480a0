"""A deadline per attempt (``attempt_timeout``): the attempts of an idempotent call made by the
client itself, as gRPC's retries make them, but each with a deadline of its own.

gRPC's retries share the call's one deadline, so a caller with a 2 s deadline that is refused
for overload and told to come back in 1.5 s has 0.5 s left for its second attempt. With
``attempt_timeout`` each attempt gets up to that many seconds (AWS's SDKs call it the attempt
timeout beside the API call timeout, Envoy ``per_try_timeout``), the call's ``timeout`` bounding
them all. Between attempts the client waits what gRPC would: the server's
``grpc-retry-pushback-ms`` when it sent one (and never retries after a negative or malformed
one), else a jittered exponential backoff. An attempt that ran out its own deadline is tried
again; one that ran out the call's is not. Later attempts say which they are in
:data:`ATTEMPT_METADATA_KEY` (``grpc-previous-rpc-attempts`` is gRPC's: its retry filter drops a
caller's when retries are on), so that a
server gives a returning caller the room it gives gRPC's retries.
"""

from __future__ import annotations

import random

import attrs
import grpc

PUSHBACK_KEY = "grpc-retry-pushback-ms"
# The attempts before this one, as gRPC's own retries send grpc-previous-rpc-attempts.
ATTEMPT_METADATA_KEY = "x-drucker-previous-attempts"
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})


def _pushback_seconds(error: grpc.RpcError) -> float | None:
    """The server's pushback in seconds; ``-1.0`` for a negative or malformed one (no retry),
    ``None`` when it sent none."""
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == PUSHBACK_KEY:
            text = value.decode() if isinstance(value, bytes) else str(value)
            return int(text) / 1000 if text.isdigit() else -1.0
    return None


@attrs.frozen
class AttemptPolicy:
    """How many attempts, how long each may take, and the backoff between them (gRPC's
    retry policy of the client's channel, with a deadline per attempt)."""

    max_attempts: int
    attempt_timeout: float = attrs.field()
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0

    @attempt_timeout.validator
    def _positive(self, _: attrs.Attribute[float], value: float) -> None:
        if not value > 0:
            raise ValueError("attempt_timeout must be more than 0 seconds")

    def timeout(self, left: float) -> float:
        """The deadline of the next attempt when ``left`` seconds of the call remain."""
        return min(self.attempt_timeout, left)

    def wait(self, error: grpc.RpcError, attempt: int, own_deadline: bool) -> float | None:
        """Seconds to wait before the attempt after ``attempt`` (counted from 1) failed with
        ``error``; ``None``: no more attempts. ``own_deadline``: the attempt's deadline was
        its own, shorter than what was left of the call's."""
        if attempt >= self.max_attempts:
            return None
        code = error.code()
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return 0.0 if own_deadline else None
        if code not in RETRYABLE:
            return None
        pushback = _pushback_seconds(error)
        if pushback is not None:
            return pushback if pushback >= 0 else None
        ceiling = min(self.initial_backoff * self.multiplier ** (attempt - 1), self.max_backoff)
        return random.uniform(0, ceiling)  # gRPC's jitter; no secret


def attempt_metadata(
    metadata: tuple[tuple[str, str], ...], attempt: int
) -> tuple[tuple[str, str], ...]:
    """The metadata of attempt ``attempt`` (counted from 1): later ones say so."""
    return metadata if attempt == 1 else (*metadata, (ATTEMPT_METADATA_KEY, str(attempt - 1)))
