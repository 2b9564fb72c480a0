"""A grpc.aio server interceptor that records every rpc where it is answered.

For every rpc: the standard gRPC server series (``grpc_server_started_total``,
``grpc_server_handled_total``, ``grpc_server_handling_seconds``, as py-grpc-prometheus names
them). For prediction rpcs also drucker's own: ``drucker_requests_total``,
``drucker_request_duration_seconds`` and ``drucker_inflight_requests``.

The wrapped handler and the method's recorder (:mod:`drucker.observability.rpc_stats`) are
made once per method; per rpc the cost is a dictionary look-up and the recorder's updates.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

if TYPE_CHECKING:
    from drucker.observability.metrics import Metrics
    from drucker.observability.rpc_stats import RpcRecorder

# Full method name ("/package.Service/Method") -> protocol label, for the prediction rpcs.
PredictionRpcs = Callable[[str], str | None]

_GRPC_TYPES = {
    (False, False): "unary",
    (False, True): "server_stream",
    (True, False): "client_stream",
    (True, True): "bidi_stream",
}
_BEHAVIOURS = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


def _code(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    """The status name the rpc ended with."""
    if isinstance(error, asyncio.CancelledError | GeneratorExit):  # the caller went away
        return "CANCELLED"
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if isinstance(code, int):  # grpc.aio reports an int where the handler set one
        return next((c.name for c in grpc.StatusCode if c.value[0] == code), "UNKNOWN")
    return "OK" if error is None else "UNKNOWN"


def _recorded(behaviour: Callable[..., Any], recorder: RpcRecorder) -> Callable[..., Any]:
    """``behaviour`` (a coroutine or async-generator function) with the rpc recorded."""
    if inspect.isasyncgenfunction(behaviour):

        async def streamed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = recorder.started()
            error: BaseException | None = None
            try:
                async for response in behaviour(request, context):
                    yield response
            except BaseException as exc:
                error = exc
                raise
            finally:
                recorder.finished(started, _code(context, error))

        return streamed

    async def answered(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = recorder.started()
        error: BaseException | None = None
        try:
            return await behaviour(request, context)
        except BaseException as exc:
            error = exc
            raise
        finally:
            recorder.finished(started, _code(context, error))

    return answered


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Records every rpc of the server it is installed in (install it first)."""

    def __init__(self, metrics: Metrics, prediction_rpcs: PredictionRpcs) -> None:
        self._metrics = metrics
        self._prediction_rpcs = prediction_rpcs
        # method -> (handler, wrapped): servers return the same handler object for a method on
        # every call; another one (e.g. an auth interceptor's refusal) replaces the entry.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:  # unknown method: grpc answers UNIMPLEMENTED
            return None
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, method)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        shape = (bool(handler.request_streaming), bool(handler.response_streaming))
        attribute, make = _BEHAVIOURS[shape]
        service, _, name = method.lstrip("/").rpartition("/")
        recorder = self._metrics.rpc_recorder(
            (_GRPC_TYPES[shape], service, name), self._prediction_rpcs(method)
        )
        wrapped: grpc.RpcMethodHandler = make(
            _recorded(getattr(handler, attribute), recorder),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        return wrapped


def prediction_rpcs(protocols: Mapping[str, str]) -> PredictionRpcs:
    """A :data:`PredictionRpcs` from ``{"/Service/" or "/Service/Method": protocol}``."""

    def protocol(method: str) -> str | None:
        if method in protocols:
            return protocols[method]
        return protocols.get(method[: method.rfind("/") + 1])

    return protocol
