"""What every rpc of the server gets, whatever its service: exact status codes, nothing pinned.

:func:`guarded_server` hands the services a view of the grpc.aio server whose registration
methods wrap each method handler once, so that

- a request message that does not decode (truncated, garbage, invalid UTF-8 in a string field)
  ends the rpc with ``INVALID_ARGUMENT`` instead of gRPC's ``UNKNOWN``, on every service
  (Drucker, V2, management, health, reflection), streamed requests included;
- an unexpected exception of the framework ends the rpc with ``INTERNAL`` and its message,
  never ``UNKNOWN``;
- an aborted rpc frees its request at once: grpc.aio keeps the abort exception in the rpc's
  state, whose traceback holds the handler frames (and so the request and the decoded input)
  in a reference cycle that only a full garbage collection would free;
- memory freed after requests near the message limit goes back to the operating system;
- every rpc is counted where it is answered (the standard gRPC server series and drucker's
  prediction series, :mod:`drucker.observability.rpc_stats`), refused ones included;
- the protected methods require the token (``UNAUTHENTICATED`` before anything else).

Doing all of it in one wrapper per method, made when the method is registered, leaves the
server without interceptors (each one adds a coroutine per rpc, and grpc.aio's interceptor
pipeline another) and the hot path with a single extra frame.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Protocol, cast

import attrs
import grpc
import grpc.aio

from drucker.frames import detach
from drucker.protocol.auth import bearer_refusal, loopback_peer


class Undecodable:
    """Stands for a request message that did not decode; the handler refuses it."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Trimmer(Protocol):
    """Gives memory back after big messages (the server's memory policy,
    :class:`drucker.server.memory.MemoryPolicy`)."""

    def note_message(self, size: int) -> None:
        """Note a received message of ``size`` bytes."""

    def after_rpc(self) -> None:
        """An rpc ended."""


class RpcRecorder(Protocol):
    """Counts the rpcs of one method. The guard is its consumer and declares it here; the
    server's recorders (:mod:`drucker.observability.rpc_stats`) fit it."""

    def started(self) -> float:
        """Count an rpc as started; return its start time for :meth:`finished`."""

    def finished(self, started: float, code: str) -> None:
        """Count the rpc as finished with status ``code`` (a ``grpc.StatusCode`` name)."""


# (full method name, (request streaming, response streaming)) -> the method's recorder
RecorderFor = Callable[[str, tuple[bool, bool]], RpcRecorder]


def _tolerant(
    deserialize: Callable[[bytes], Any] | None, trimmer: Trimmer | None
) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None
    note = trimmer.note_message if trimmer is not None else None

    def decode(data: bytes) -> Any:
        if note is not None:
            note(len(data))
        try:
            return deserialize(data)
        except Exception as exc:  # any parser failure on hostile bytes
            return Undecodable(f"{type(exc).__name__}: {exc}")

    return decode


async def _refuse(context: grpc.aio.ServicerContext, undecodable: Undecodable) -> None:
    await context.abort(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"the request message does not decode: {undecodable.reason}",
    )


async def _checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
    async for request in requests:
        if isinstance(request, Undecodable):
            await _refuse(context, request)
        yield request


async def _fail(context: grpc.aio.ServicerContext, exc: Exception) -> None:
    message = f"drucker failed: {type(exc).__name__}: {exc}"
    detach(exc)
    await context.abort(grpc.StatusCode.INTERNAL, message)


def _code(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    """The name of the status code the rpc ended with."""
    if isinstance(error, asyncio.CancelledError | GeneratorExit):  # the caller went away
        return "CANCELLED"
    code = context.code()
    if code is None:
        return "OK" if error is None else "UNKNOWN"
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    # grpc.aio reports an int where the handler set one
    return next((c.name for c in grpc.StatusCode if c.value[0] == code), "UNKNOWN")


def _bearer(context: grpc.aio.ServicerContext) -> str | bytes | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return cast(str | bytes, value)
    return None


# Ends one rpc: (start time, its context, the status name when an error decided it).
Finish = Callable[[float, grpc.aio.ServicerContext, str | None], None]


def _finisher(recorder: RpcRecorder | None, trimmer: Trimmer | None) -> Finish | None:
    """What every end of an rpc does, in one call: count it, give the memory policy its turn."""
    after_rpc = trimmer.after_rpc if trimmer is not None else None
    if recorder is None:
        if after_rpc is None:
            return None

        def trim(started: float, context: grpc.aio.ServicerContext, code: str | None) -> None:
            after_rpc()

        return trim
    finished = recorder.finished

    def finish(started: float, context: grpc.aio.ServicerContext, code: str | None) -> None:
        if code is None:  # answered: OK unless the handler set a code
            code = "OK" if context.code() is None else _code(context, None)
        finished(started, code)
        if after_rpc is not None:
            after_rpc()

    return finish


async def _ended(
    context: grpc.aio.ServicerContext, error: BaseException, started: float, finish: Finish | None
) -> None:
    """Finish an rpc that ``error`` ended, freeing what the error holds. An abort or a
    cancellation returns (the handler raises it on); a failure of ours is aborted here as
    ``INTERNAL`` with its message."""
    if isinstance(error, grpc.aio.AbortError):
        detach(error)  # its frames hold the request's input
    elif isinstance(error, Exception):  # a failure of ours
        if finish is not None:
            finish(started, context, "INTERNAL")
        await _fail(context, error)
        return
    if finish is not None:
        finish(started, context, _code(context, error))


def _kind(shape: tuple[bool, bool]) -> str:
    """``unary_unary``, ``stream_unary``, ``unary_stream`` or ``stream_stream``: the name of
    a handler's behaviour and, with ``_rpc_method_handler``, of grpc's builder for it."""
    return "_".join("stream" if streaming else "unary" for streaming in shape)


def guard_handler(
    handler: grpc.RpcMethodHandler,
    recorder: RpcRecorder | None = None,
    token: str | None = None,
    trimmer: Trimmer | None = None,
    loopback_without_token: bool = False,
) -> grpc.RpcMethodHandler:
    """The same rpc, with tolerant decoding, exact status codes and no pinned request.

    With a ``recorder`` every rpc is counted; with a ``token`` the rpc needs
    ``authorization: Bearer <token>`` (``UNAUTHENTICATED`` without it, before anything else),
    except from a loopback peer when ``loopback_without_token``;
    with a ``trimmer`` memory freed after big messages goes back to the operating system.
    """
    shape = (handler.request_streaming, handler.response_streaming)
    kind = _kind(shape)
    behavior = getattr(handler, kind)
    streaming_in, streaming_out = shape
    coroutine = inspect.iscoroutinefunction(behavior)
    finish = _finisher(recorder, trimmer)

    async def checked(request: Any, context: grpc.aio.ServicerContext) -> Any:
        """The request (a checked iterator of them when streamed), once the rpc may go on."""
        if token is not None and not (loopback_without_token and loopback_peer(context.peer())):
            refusal = bearer_refusal(_bearer(context), token)
            if refusal is not None:
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, refusal)
        if streaming_in:
            return _checked(request, context)
        if isinstance(request, Undecodable):
            await _refuse(context, request)
        return request

    # The status is decided where the rpc ends and kept as text, so no error outlives the rpc.
    async def unary_out(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = recorder.started() if recorder is not None else 0.0
        try:
            if token is not None or streaming_in:
                request = await checked(request, context)
            elif isinstance(request, Undecodable):
                await _refuse(context, request)
            if coroutine:
                answer = await behavior(request, context)
            else:
                answer = behavior(request, context)
                if inspect.isawaitable(answer):
                    answer = await answer
        except BaseException as error:  # aborted, failed or cancelled
            del request
            await _ended(context, error, started, finish)
            raise
        if finish is not None:
            finish(started, context, None)
        return answer

    async def stream_out(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started = recorder.started() if recorder is not None else 0.0
        try:
            request = await checked(request, context)
            responses = behavior(request, context)
            if inspect.isawaitable(responses):  # a handler that writes with context.write
                await responses
            elif hasattr(responses, "__aiter__"):
                async for response in responses:
                    yield response
            else:
                for response in responses:
                    yield response
            if finish is not None:
                finish(started, context, None)
        except BaseException as error:  # aborted, failed, cancelled, or the caller stopped
            del request
            await _ended(context, error, started, finish)
            raise

    build = getattr(grpc, f"{kind}_rpc_method_handler")
    return build(
        stream_out if streaming_out else unary_out,
        request_deserializer=_tolerant(handler.request_deserializer, trimmer),
        response_serializer=handler.response_serializer,
    )


@attrs.frozen
class Guard:
    """What the guard adds to every rpc besides exact codes: counting and the token check.

    ``recorder_for`` gives each method's recorder (no counting without it); with a ``token``,
    the methods for which ``needs_token`` is true require it, except from loopback peers for
    those for which ``loopback_waived`` is true; a ``trimmer`` trims memory after big messages.
    """

    recorder_for: RecorderFor | None = None
    token: str | None = None
    needs_token: Callable[[str], bool] = lambda method: False
    trimmer: Trimmer | None = None
    loopback_waived: Callable[[str], bool] = lambda method: False

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """``handler`` of the full method name ``method``, guarded."""
        shape = (bool(handler.request_streaming), bool(handler.response_streaming))
        recorder = self.recorder_for(method, shape) if self.recorder_for is not None else None
        token = self.token if self.token and self.needs_token(method) else None
        waived = token is not None and self.loopback_waived(method)
        return guard_handler(handler, recorder, token, self.trimmer, waived)


class _GuardedGeneric(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, inner: grpc.GenericRpcHandler, guard: Guard) -> None:
        self._inner = inner
        self._guard = guard
        self._cache: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method
        guarded = self._cache.get(method)
        if guarded is None:
            handler = self._inner.service(details)
            if handler is None:
                return None
            guarded = self._cache[method] = self._guard.wrap(method, handler)
        return guarded


class GuardedRegistration:
    """The registration side of a grpc.aio server, wrapping every handler it is given."""

    def __init__(self, server: grpc.aio.Server, guard: Guard) -> None:
        self._server = server
        self._guard = guard

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_GuardedGeneric(h, self._guard) for h in handlers)
        )

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        self._server.add_registered_method_handlers(
            service,
            {name: self._guard.wrap(f"/{service}/{name}", h) for name, h in handlers.items()},
        )


def guarded_server(server: grpc.aio.Server, guard: Guard | None = None) -> Any:
    """``server`` as the ``add_*Servicer_to_server`` functions see it: every handler guarded."""
    return GuardedRegistration(server, guard or Guard())
