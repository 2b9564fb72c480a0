"""The one place where drucker errors become gRPC status codes."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import NoReturn, TypeVar

import grpc
import grpc.aio

from drucker.errors import DruckerError
from drucker.frames import detach

T = TypeVar("T")


def status_code(error: DruckerError) -> grpc.StatusCode:
    """The gRPC status code for a drucker error (named by the error class)."""
    return grpc.StatusCode[error.status]


def failure(error: DruckerError) -> tuple[grpc.StatusCode, str]:
    """The status code and message that end an rpc failed by ``error``; its frames are dropped.

    Call it in the ``except`` block and abort after it, so that the abort raises no exception
    chained to ``error`` (see :func:`answer_or_abort`).
    """
    code, message = status_code(error), str(error)
    detach(error)
    return code, message


async def abort_with(context: grpc.aio.ServicerContext, error: DruckerError) -> NoReturn:
    """End the rpc with the error's status code and message (raises, never returns)."""
    code, message = status_code(error), str(error)
    detach(error)
    del error
    await context.abort(code, message)
    raise AssertionError("context.abort returned")  # pragma: no cover


async def answer_or_abort(context: grpc.aio.ServicerContext, work: Awaitable[T]) -> T:
    """The result of ``work``, or the rpc ended with the status of the drucker error it raised.

    The error is dropped before the rpc is aborted, so nothing it references (the request's
    input in its traceback's frames) outlives the failed rpc.
    """
    try:
        return await work
    except DruckerError as error:
        code, message = failure(error)
    await context.abort(code, message)
    raise AssertionError("context.abort returned")  # pragma: no cover
