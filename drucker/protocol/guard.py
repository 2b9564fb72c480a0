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
- memory freed after requests near the message limit goes back to the operating system.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import inspect
import traceback
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import grpc
import grpc.aio

_SHAPES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


class Undecodable:
    """Stands for a request message that did not decode; the handler refuses it."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


BIG_MESSAGE_BYTES = 4 * 1024 * 1024
TRIM_DELAY_SECONDS = 0.2


class _Trimmer:
    """Gives memory freed after big requests back to the operating system (glibc only).

    glibc keeps freed heap memory of its per-thread arenas for reuse, so the buffers of a few
    requests near the message limit would stay resident long after they were freed. After an
    rpc ends while a big message was received, one ``malloc_trim`` is scheduled (at most one
    pending at a time, a little later, when the rpc's buffers are released).
    """

    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        self._trim = getattr(libc, "malloc_trim", None)
        self.big_message_seen = False
        self._scheduled = False

    def note(self, size: int) -> None:
        if size >= BIG_MESSAGE_BYTES and self._trim is not None:
            self.big_message_seen = True

    def after_rpc(self) -> None:
        if not self.big_message_seen or self._scheduled:
            return
        self._scheduled = True
        asyncio.get_running_loop().call_later(TRIM_DELAY_SECONDS, self._run)

    def _run(self) -> None:
        self._scheduled = self.big_message_seen = False
        assert self._trim is not None
        self._trim(0)


_TRIMMER = _Trimmer()


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def decode(data: bytes) -> Any:
        _TRIMMER.note(len(data))
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
    traceback.clear_frames(exc.__traceback__)
    await context.abort(grpc.StatusCode.INTERNAL, message)


def _forget(aborted: BaseException) -> None:
    """Drop the finished frames an abort exception holds (the request's input among them)."""
    traceback.clear_frames(aborted.__traceback__)
    aborted.__traceback__ = None


def guard_handler(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """The same rpc, with tolerant decoding, exact status codes and no pinned request."""
    shape = (handler.request_streaming, handler.response_streaming)
    behavior = {
        (False, False): handler.unary_unary,
        (True, False): handler.stream_unary,
        (False, True): handler.unary_stream,
        (True, True): handler.stream_stream,
    }[shape]
    streaming_in, streaming_out = shape

    async def unary_out(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if not streaming_in and isinstance(request, Undecodable):
            await _refuse(context, request)
        if streaming_in:
            request = _checked(request, context)
        try:
            outcome = behavior(request, context)
            return await outcome if inspect.isawaitable(outcome) else outcome
        except grpc.aio.AbortError as aborted:
            del request
            _forget(aborted)
            raise
        except Exception as exc:
            del request
            await _fail(context, exc)
        finally:
            _TRIMMER.after_rpc()

    async def stream_out(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        if not streaming_in and isinstance(request, Undecodable):
            await _refuse(context, request)
        if streaming_in:
            request = _checked(request, context)
        try:
            responses = behavior(request, context)
            if inspect.isawaitable(responses):  # a handler that writes with context.write
                await responses
            elif hasattr(responses, "__aiter__"):
                async for response in responses:
                    yield response
            else:
                for response in responses:
                    yield response
        except grpc.aio.AbortError as aborted:
            del request
            _forget(aborted)
            raise
        except Exception as exc:
            del request
            await _fail(context, exc)
        finally:
            _TRIMMER.after_rpc()

    return _SHAPES[shape](
        stream_out if streaming_out else unary_out,
        request_deserializer=_tolerant(handler.request_deserializer),
        response_serializer=handler.response_serializer,
    )


class _GuardedGeneric(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, inner: grpc.GenericRpcHandler) -> None:
        self._inner = inner
        self._cache: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method
        if method not in self._cache:
            handler = self._inner.service(details)
            if handler is None:
                return None
            self._cache[method] = guard_handler(handler)
        return self._cache[method]


class GuardedRegistration:
    """The registration side of a grpc.aio server, wrapping every handler it is given."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(_GuardedGeneric(h) for h in handlers))

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        self._server.add_registered_method_handlers(
            service, {name: guard_handler(h) for name, h in handlers.items()}
        )


def guarded_server(server: grpc.aio.Server) -> Any:
    """``server`` as the ``add_*Servicer_to_server`` functions see it: every handler guarded."""
    return GuardedRegistration(server)
