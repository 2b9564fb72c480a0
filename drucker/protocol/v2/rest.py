"""The Open Inference Protocol's HTTP binding (V2 REST), as a bare ASGI application.

Each endpoint decodes its request, asks the :class:`~drucker.protocol.v2.dataplane.DataPlane`
(the same one the gRPC binding uses) and encodes the answer, so typing, limits and errors are
the gRPC binding's. Errors answer ``{"error": message}`` with the status of :data:`HTTP_STATUS`;
a refusal for overload answers 429 with ``Retry-After`` (the dispatcher's pushback, in whole
seconds), a deadline that passed before the prediction could start 504. An inference's deadline
is its ``timeout`` parameter or ``Request-Timeout`` header (:mod:`.rest_caller`). A big JSON
body is decoded in a worker process, so it never stalls the event loop (:mod:`.rest_offload`).

The routes are a handful of fixed patterns, so the application matches them itself instead of
going through a web framework's router and request objects: that keeps a one-row inference at a
few dozen microseconds of Python over the data plane.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from drucker.errors import (
    CallerGoneError,
    DruckerError,
    InvalidInputError,
    OverloadedError,
    TooLargeError,
    UnauthenticatedError,
)
from drucker.events import EventLog
from drucker.observability import routed
from drucker.protocol.auth import bearer_refusal
from drucker.protocol.v2 import rest_codec as codec
from drucker.protocol.v2.dataplane import DataPlane
from drucker.protocol.v2.openapi import openapi_document
from drucker.protocol.v2.rest_caller import RestCaller, timeout_seconds
from drucker.protocol.v2.rest_offload import OffLoopDecoder
from drucker.repository import Repository

if TYPE_CHECKING:
    from drucker.protocol.guard import RpcRecorder

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# drucker error status (a gRPC code name) → HTTP status
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 413,
    "DEADLINE_EXCEEDED": 504,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}
OPENAPI_PATH = "/v2/openapi.json"
ROUTE_KEY = b"x-drucker-route-key"
VERSION = b"x-drucker-version"
_MODEL = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(/ready|/infer)?$")
_REPOSITORY = re.compile(r"^/v2/repository/(?:index|models/([^/]+)/(load|unload))$")
_JSON = [(b"content-type", b"application/json")]
# Answers of more values than this are encoded off the event loop (JSON text of 64 Ki floats
# takes about 5 ms; four 257,000-row answers held the loop 0.6 s, measured with py-spy).
OFF_LOOP_ELEMENTS = 1 << 16


class RequestTimeout(Exception):
    """The request body did not arrive in time."""


class ClientGone(Exception):
    """The client disconnected before its request was read."""


class V2RestApp:
    """Health, metadata and inference of the Open Inference Protocol over HTTP.

    :param token: the bearer token that inference and model metadata need
        (``management.protect_predictions``, as for gRPC); ``None`` leaves them open.
    :param max_body_bytes: larger bodies get 413 (the gRPC message-size limit).
    :param body_timeout: seconds a request body may take to arrive; slower ones get 408.
    :param infer_recorder: counts each inference request with the gRPC status code name of
        its answer (``OK``, ``INVALID_ARGUMENT``…), in the metrics the gRPC bindings use.
    """

    def __init__(
        self,
        plane: DataPlane,
        log: EventLog,
        *,
        token: str | None,
        max_body_bytes: int,
        body_timeout: float,
        infer_recorder: RpcRecorder | None = None,
        repository: Repository | None = None,
        management_token: str | None = None,
    ) -> None:
        self._plane = plane
        self._log = log
        self._token = token
        self._repository = repository
        self._management_token = management_token
        self._max_body = max_body_bytes
        self._body_timeout = body_timeout
        self._recorder = infer_recorder
        self._openapi = codec.dumps(openapi_document())
        self.decoder = OffLoopDecoder()  # big JSON bodies are decoded off the event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            status, body, headers = await self._route(scope, receive)
        except OverloadedError as error:
            status, body, headers = _error(429, str(error))
            seconds = max(1, math.ceil(error.retry_after_ms / 1000))
            headers = [*headers, (b"retry-after", str(seconds).encode())]
        except CallerGoneError:
            return  # nobody is left to read an answer
        except DruckerError as error:
            status, body, headers = _error(HTTP_STATUS.get(error.status, 500), str(error))
            if isinstance(error, _MethodNotAllowed):
                headers = [*headers, (b"allow", error.allowed.encode())]
        except RequestTimeout:
            status, body, headers = _error(
                408, f"the request body did not arrive within {self._body_timeout:g} s"
            )
            headers = [*headers, (b"connection", b"close")]
        except ClientGone:
            return
        except Exception as error:  # answer 500 and keep serving; the log keeps the cause
            self._log.error(f"V2 REST {scope['method']} {scope['path']} failed: {error!r}")
            status, body, headers = _error(500, "internal server error")
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _route(self, scope: Scope, receive: Receive) -> tuple[int, bytes, list[Any]]:
        method, path = scope["method"], scope["path"]
        plane = self._plane
        match = _MODEL.match(path)
        if match is not None:
            name, version, action = match.group(1), match.group(2) or "", match.group(3)
            if action == "/infer":
                _allow(method, "POST")
                return await self._infer(scope, receive, name, version)
            _allow(method, "GET")
            self._check_token(scope)  # before anything names a model or a version
            if action == "/ready":
                ready = plane.model_ready(name, version)
                answer = _readiness(ready, plane.unready_reason(name), name=name)
                return _json(200 if ready else 503, answer)
            return _json(200, codec.model_metadata(plane.model_metadata(name, version)))
        if path == "/v2/health/live":
            _allow(method, "GET")
            return _json(200, {"live": plane.live()})
        if path == "/v2/health/ready":
            _allow(method, "GET")
            ready = plane.ready()
            return _json(200 if ready else 503, _readiness(ready, plane.unready_reason()))
        if path in ("/v2", "/v2/"):
            _allow(method, "GET")
            return _json(200, codec.server_metadata(plane.server_metadata()))
        if path == OPENAPI_PATH:
            _allow(method, "GET")
            return 200, self._openapi, _JSON
        repository_call = _REPOSITORY.match(path)
        if repository_call is not None and self._repository is not None:
            _allow(method, "POST")
            return await self._repository_call(scope, receive, *repository_call.groups())
        return _error(404, f"no endpoint {path}")

    async def _repository_call(
        self, scope: Scope, receive: Receive, name: str | None, action: str | None
    ) -> tuple[int, bytes, list[Any]]:
        """``index`` (``name`` None), ``load`` or ``unload``: management, behind the token."""
        headers = _headers(scope)
        if self._management_token is not None:
            refusal = bearer_refusal(headers.get(b"authorization"), self._management_token)
            if refusal is not None:
                raise UnauthenticatedError(refusal)
        body = await self._body(headers, receive)
        repository = self._repository
        assert repository is not None
        if name is None:
            document = codec.loads(body) if body.strip() else {}
            ready = document.get("ready", False) if isinstance(document, dict) else None
            if not isinstance(ready, bool):
                raise InvalidInputError('the index request is {"ready": true|false}')
            rows = [attrs.asdict(row) for row in repository.index(ready_only=ready)]
            return _json(200, rows)
        await (repository.load(name) if action == "load" else repository.unload(name))
        return _json(200, {})

    async def _infer(
        self, scope: Scope, receive: Receive, name: str, version: str
    ) -> tuple[int, bytes, list[Any]]:
        recorder = self._recorder
        if recorder is None:
            return await self._answer_infer(scope, receive, name, version)
        routed.clear()  # an earlier request of this connection was answered in this task
        started = recorder.started()
        code = "INTERNAL"
        try:
            answer = await self._answer_infer(scope, receive, name, version)
            code = "OK"
            return answer
        except DruckerError as error:
            code = error.status
            raise
        except RequestTimeout:
            code = "DEADLINE_EXCEEDED"
            raise
        except ClientGone:
            code = "CANCELLED"
            raise
        finally:
            recorder.finished(started, code)

    async def _answer_infer(
        self, scope: Scope, receive: Receive, name: str, version: str
    ) -> tuple[int, bytes, list[Any]]:
        headers = self._check_token(scope)
        length = headers.get(codec.HEADER_LENGTH.encode())
        header_length: int | None = None
        if length is not None:
            try:
                header_length = int(length)
            except ValueError:
                raise InvalidInputError(
                    "Inference-Header-Content-Length must be a whole number"
                ) from None
        body = await self._body(headers, receive)
        decoded = await self.decoder.decode(body, header_length, name, version)
        del body
        timeout = timeout_seconds(decoded.request.parameters, headers)
        caller = RestCaller(timeout, headers.get(ROUTE_KEY))
        watcher = caller.watching(receive)
        try:
            answer = await self._plane.infer(decoded.request, caller)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not caller.cancelled() or task is None or task.uncancel():
                raise  # cancelled by something else than the disconnect (the server stopping)
            raise CallerGoneError("the client disconnected") from None
        finally:
            watcher.cancel()
        if sum(output.data.size for output in answer.outputs) > OFF_LOOP_ELEMENTS:
            # A big answer's text is built in a thread: the loop keeps answering meanwhile.
            encoded = await asyncio.to_thread(codec.encode_infer, answer, decoded)
        else:
            encoded = codec.encode_infer(answer, decoded)
        content, json_length = encoded
        answered = (VERSION, answer.model_version.encode())  # which version answered
        if json_length is None:
            return 200, content, [*_JSON, answered]
        return (
            200,
            content,
            [
                (b"content-type", b"application/octet-stream"),
                (codec.HEADER_LENGTH.encode(), str(json_length).encode()),
                answered,
            ],
        )

    def _check_token(self, scope: Scope) -> dict[bytes, bytes]:
        """The request's headers; :class:`UnauthenticatedError` without the needed token."""
        headers = _headers(scope)
        if self._token is not None:
            refusal = bearer_refusal(headers.get(b"authorization"), self._token)
            if refusal is not None:
                raise UnauthenticatedError(refusal)
        return headers

    async def _body(self, headers: dict[bytes, bytes], receive: Receive) -> bytes:
        """The request body, refused past the size limit or when it comes too slowly."""
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body:
            raise _too_large(self._max_body)
        try:
            async with asyncio.timeout(self._body_timeout):
                message = await receive()
                _check_message(message)
                body: bytes = message.get("body", b"")
                if not message.get("more_body"):
                    if len(body) > self._max_body:
                        raise _too_large(self._max_body)
                    return body
                chunks, size = [body], len(body)
                while message.get("more_body"):
                    message = await receive()
                    _check_message(message)
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self._max_body:
                        raise _too_large(self._max_body)
                    chunks.append(chunk)
                return b"".join(chunks)
        except TimeoutError:
            raise RequestTimeout from None


def _check_message(message: dict[str, Any]) -> None:
    if message["type"] == "http.disconnect":
        raise ClientGone


def _too_large(limit: int) -> TooLargeError:
    return TooLargeError(f"the request body is larger than {limit} bytes (grpc.max_message_bytes)")


class _MethodNotAllowed(DruckerError):
    status = "METHOD_NOT_ALLOWED"

    def __init__(self, method: str, allowed: str) -> None:
        super().__init__(f"{method} is not allowed here; use {allowed}")
        self.allowed = allowed


def _allow(method: str, allowed: str) -> None:
    if method != allowed and not (allowed == "GET" and method == "HEAD"):
        raise _MethodNotAllowed(method, allowed)


HTTP_STATUS[_MethodNotAllowed.status] = 405


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return dict(scope["headers"])


def _json(status: int, value: Any) -> tuple[int, bytes, list[Any]]:
    return status, codec.dumps(value), _JSON


def _error(status: int, message: str) -> tuple[int, bytes, list[Any]]:
    return _json(status, {"error": message})


def _readiness(ready: bool, reason: str | None, **more: str) -> dict[str, Any]:
    """A readiness answer: ``{"ready": ...}``, with the reason when the server knows why not."""
    answer: dict[str, Any] = {**more, "ready": ready}
    if not ready and reason:
        answer["reason"] = reason
    return answer
