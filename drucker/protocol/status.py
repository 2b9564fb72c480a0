"""The one place where drucker errors become gRPC status codes (and trailers).

A refusal for overload (:class:`~drucker.errors.OverloadedError`) carries the trailing
metadata ``grpc-retry-pushback-ms`` of gRPC's retry design: a client's retry policy waits that
long before it tries again (and never retries on a negative value).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import NoReturn, TypeVar

import grpc
import grpc.aio

from drucker.errors import DruckerError, OverloadedError
from drucker.frames import detach

T = TypeVar("T")

PUSHBACK_KEY = "grpc-retry-pushback-ms"
Trailers = tuple[tuple[str, str], ...]


def status_code(error: DruckerError) -> grpc.StatusCode:
    """The gRPC status code for a drucker error (named by the error class)."""
    return grpc.StatusCode[error.status]


NO_RETRY: Trailers = ((PUSHBACK_KEY, "-1"),)


def trailers(error: DruckerError) -> Trailers:
    """The trailing metadata of an rpc failed by ``error``: the pushback of a refusal for
    overload; a negative one (never retry) for the other ``RESOURCE_EXHAUSTED`` errors, which a
    retry would only repeat (too many rows, an upload too large)."""
    if isinstance(error, OverloadedError):
        return ((PUSHBACK_KEY, str(error.retry_after_ms)),)
    if error.status == "RESOURCE_EXHAUSTED":
        return NO_RETRY
    return ()


def failure(error: DruckerError) -> tuple[grpc.StatusCode, str, Trailers]:
    """The status code, message and trailers that end an rpc failed by ``error``; its frames
    are dropped.

    Call it in the ``except`` block and abort after it, so that the abort raises no exception
    chained to ``error`` (see :func:`answer_or_abort`).
    """
    code, message, extra = status_code(error), str(error), trailers(error)
    detach(error)
    return code, message, extra


async def abort_with(context: grpc.aio.ServicerContext, error: DruckerError) -> NoReturn:
    """End the rpc with the error's status code and message (raises, never returns)."""
    code, message, extra = failure(error)
    del error
    await context.abort(code, message, extra)
    raise AssertionError("context.abort returned")  # pragma: no cover


async def answer_or_abort(context: grpc.aio.ServicerContext, work: Awaitable[T]) -> T:
    """The result of ``work``, or the rpc ended with the status of the drucker error it raised.

    The error is dropped before the rpc is aborted, so nothing it references (the request's
    input in its traceback's frames) outlives the failed rpc.
    """
    try:
        return await work
    except DruckerError as error:
        code, message, extra = failure(error)
    await context.abort(code, message, extra)
    raise AssertionError("context.abort returned")  # pragma: no cover
