"""Which recorder counts each rpc of the server, by method.

For every rpc: the standard gRPC server series (``grpc_server_started_total``,
``grpc_server_handled_total``, ``grpc_server_handling_seconds``, as py-grpc-prometheus names
them). For prediction rpcs also drucker's own: ``drucker_requests_total``,
``drucker_request_duration_seconds`` and ``drucker_inflight_requests``.

The rpc guard (:mod:`drucker.protocol.guard`) asks for a method's recorder once, when it wraps
the method's handler, and calls it where the rpc is answered; per rpc the cost is the
recorder's updates (:mod:`drucker.observability.rpc_stats`). The guard declares what a
recorder is (``RpcRecorder``, ``RecorderFor``); the recorders here fit it. This module uses
:class:`~drucker.observability.metrics.Metrics`, never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drucker.observability.metrics import Metrics
    from drucker.observability.rpc_stats import LoopRpcStats

# Full method name ("/package.Service/Method") -> protocol label, for the prediction rpcs.
PredictionRpcs = Callable[[str], str | None]

_GRPC_TYPES = {
    (False, False): "unary",
    (False, True): "server_stream",
    (True, False): "client_stream",
    (True, True): "bidi_stream",
}


def recorders(
    metrics: Metrics, prediction_rpcs: PredictionRpcs
) -> Callable[[str, tuple[bool, bool]], LoopRpcStats]:
    """The recorder of each method (by full name and streaming shape), labelled by its shape,
    service and name: the guard's ``recorder_for``. Prediction rpcs also get drucker's series."""

    def recorder_for(method: str, shape: tuple[bool, bool]) -> LoopRpcStats:
        service, _, name = method.lstrip("/").rpartition("/")
        return metrics.rpc_recorder((_GRPC_TYPES[shape], service, name), prediction_rpcs(method))

    return recorder_for


def prediction_rpcs(protocols: Mapping[str, str]) -> PredictionRpcs:
    """A :data:`PredictionRpcs` from ``{"/Service/" or "/Service/Method": protocol}``."""

    def protocol(method: str) -> str | None:
        if method in protocols:
            return protocols[method]
        return protocols.get(method[: method.rfind("/") + 1])

    return protocol
