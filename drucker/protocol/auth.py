"""Bearer-token protection of management (and optionally other) rpcs.

The token comes from ``management.token`` / ``DRUCKER_MANAGEMENT_TOKEN``; without one the server
generates a token at start and writes it to a file only its user can read. ``management.auth:
false`` opens everything, for 0.4.5 tooling that cannot send metadata.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio

from drucker.events import EventLog
from drucker.settings import Settings

DASHBOARD = "/drucker.DruckerDashboard/"
MANAGEMENT_METHODS = frozenset(
    DASHBOARD + name
    for name in (
        "UploadModel",
        "SwitchModel",
        "UploadEvaluationData",
        "EvaluateModel",
        "EvaluationResult",
        "ListModels",
    )
)
WORKER_PREFIX = "/drucker.DruckerWorker/"


def resolve_token(settings: Settings, log: EventLog) -> str | None:
    """The management token, generating and saving one when none is configured.

    Returns ``None`` when protection is turned off.
    """
    if not settings.management_auth:
        log.warning(
            "management rpcs are open to anyone who can reach the port (management.auth: "
            "false): uploads and switches need no token"
        )
        return None
    if settings.management_token:
        return settings.management_token
    path = settings.token_file
    if path.is_file() and (path.stat().st_mode & 0o077) == 0:
        token = path.read_text(encoding="utf-8").strip()
        if token:
            log.info(f"management token read from {path}", token_file=str(path))
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(token + "\n")
    log.info(f"management token generated and written to {path}", token_file=str(path))
    return token


def protected_methods(settings: Settings) -> Callable[[str], bool]:
    """Whether a full method name needs the token, under these settings."""
    service_info = DASHBOARD + "ServiceInfo"

    def needs_token(method: str) -> bool:
        if method in MANAGEMENT_METHODS:
            return True
        if method == service_info:
            return settings.protect_service_info
        return settings.protect_predictions and method.startswith(WORKER_PREFIX)

    return needs_token


def _denying(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same streaming shape that ends the rpc with UNAUTHENTICATED."""

    async def deny(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def deny_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # pragma: no cover

    codec = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    shapes = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    shape = (handler.request_streaming, handler.response_streaming)
    return shapes[shape](deny_stream if shape[1] else deny, **codec)


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Requires ``authorization: Bearer <token>`` on the protected methods."""

    def __init__(self, token: str, needs_token: Callable[[str], bool]) -> None:
        self._expected = f"Bearer {token}".encode()
        self._needs_token = needs_token

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or not self._needs_token(details.method):
            return handler
        sent = dict(details.invocation_metadata or ()).get("authorization")
        if sent is None:
            return _denying(handler, "this rpc needs 'authorization: Bearer <token>' metadata")
        sent_bytes = sent.encode() if isinstance(sent, str) else sent
        if not hmac.compare_digest(sent_bytes, self._expected):
            return _denying(handler, "the management token is not valid")
        return handler
