"""A grpc.aio server interceptor that records every rpc where it is answered.

For every rpc: the standard gRPC server series (``grpc_server_started_total``,
``grpc_server_handled_total``, ``grpc_server_handling_seconds``, as py-grpc-prometheus names
them). For prediction rpcs also drucker's own: ``drucker_requests_total``,
``drucker_request_duration_seconds`` and ``drucker_inflight_requests``.

Per rpc the cost is a dictionary look-up and a few pre-resolved metric children: the wrapped
handler and the label children are built once per method.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

if TYPE_CHECKING:
    from drucker.observability.metrics import Metrics

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


class _RpcRecorder:
    """The metric children of one method, resolved once."""

    def __init__(self, metrics: Metrics, method: str, grpc_type: str, protocol: str | None):
        service, _, name = method.lstrip("/").rpartition("/")
        labels = (grpc_type, service, name)
        self._handled = metrics.grpc_handled
        self._labels = labels
        self._started = metrics.grpc_started.labels(*labels)
        self._handling = metrics.grpc_handling.labels(*labels)
        self._by_code: dict[str, Any] = {}
        self.predicting = protocol is not None
        if protocol is not None:
            self._requests = metrics.requests
            self._protocol, self._rpc = protocol, name
            self._duration = metrics.request_duration.labels(protocol, name)
            self._inflight = metrics.inflight.labels(protocol)
            self._requests_by_code: dict[str, Any] = {}

    def started(self) -> float:
        self._started.inc()
        if self.predicting:
            self._inflight.inc()
        return time.perf_counter()

    def finished(self, started: float, code: str) -> None:
        seconds = time.perf_counter() - started
        self._handling.observe(seconds)
        handled = self._by_code.get(code)
        if handled is None:
            handled = self._by_code[code] = self._handled.labels(*self._labels, code)
        handled.inc()
        if self.predicting:
            self._inflight.dec()
            self._duration.observe(seconds)
            requests = self._requests_by_code.get(code)
            if requests is None:
                requests = self._requests_by_code[code] = self._requests.labels(
                    self._protocol, self._rpc, code
                )
            requests.inc()


def _code(context: grpc.aio.ServicerContext, error: BaseException | None) -> str:
    """The status name the rpc ended with."""
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED"
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if isinstance(code, int):  # grpc.aio reports an int where the handler set one
        return next((c.name for c in grpc.StatusCode if c.value[0] == code), "UNKNOWN")
    return "OK" if error is None else "UNKNOWN"


def _recorded(behaviour: Callable[..., Any], recorder: _RpcRecorder) -> Callable[..., Any]:
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
        recorder = _RpcRecorder(
            self._metrics, method, _GRPC_TYPES[shape], self._prediction_rpcs(method)
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
