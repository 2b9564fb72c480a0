"""Client errors: one small hierarchy carrying the gRPC status code and message."""

from __future__ import annotations

import grpc


class ClientError(Exception):
    """A call failed. ``code`` is the gRPC status (``None`` for a refused management call)."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}" if self.code else self.message


class InvalidArgument(ClientError):
    """The server refused the input or the option (INVALID_ARGUMENT)."""


class Unavailable(ClientError):
    """No server could answer (UNAVAILABLE), e.g. none is up or no model is loaded yet."""


class DeadlineExceeded(ClientError):
    """The call took longer than its timeout (DEADLINE_EXCEEDED)."""


class Unauthenticated(ClientError):
    """The token is missing or wrong (UNAUTHENTICATED)."""


class NotFound(ClientError):
    """A named model, data set or result does not exist (NOT_FOUND)."""


class ManagementError(ClientError):
    """A management call was answered with status 0 (e.g. a failed upload or switch)."""


class ServerError(ClientError):
    """Any other failure (INTERNAL, UNIMPLEMENTED, RESOURCE_EXHAUSTED, …)."""


_BY_CODE: dict[grpc.StatusCode, type[ClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.NOT_FOUND: NotFound,
}


def from_rpc_error(error: grpc.RpcError) -> ClientError:
    """The client error for a failed rpc (sync or asyncio)."""
    code_of = getattr(error, "code", None)
    code = code_of() if callable(code_of) else grpc.StatusCode.UNKNOWN
    details_of = getattr(error, "details", None)
    details = details_of() if callable(details_of) else str(error)
    return _BY_CODE.get(code, ServerError)(details or code.name, code)


def no_answer(what: str) -> ServerError:
    """The error for a stream that ended without the message it must carry."""
    return ServerError(f"the server sent no {what}", grpc.StatusCode.UNKNOWN)
