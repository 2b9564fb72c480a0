"""The one place where drucker errors become gRPC status codes."""

from __future__ import annotations

import grpc
import grpc.aio

from drucker.errors import DruckerError


def status_code(error: DruckerError) -> grpc.StatusCode:
    """The gRPC status code for a drucker error (named by the error class)."""
    return grpc.StatusCode[error.status]


async def abort_with(context: grpc.aio.ServicerContext, error: DruckerError) -> None:
    """End the rpc with the error's status code and message (raises, never returns)."""
    await context.abort(status_code(error), str(error))
