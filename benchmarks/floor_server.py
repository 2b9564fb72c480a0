"""The floor: a bare grpcio server whose handler calls the model directly.

It speaks the Drucker protocol's ``Predict_ArrFloat_String`` and the V2 ``ModelInfer`` (one FP32
tensor of any number of rows in typed contents; answers ``label`` and ``score``) and does the
same model work as drucker's scikit-learn plugin (``predict_proba`` and the best class, one
``predict_proba`` call per request), nothing else. It runs on asyncio's own event loop, or
on uvloop (drucker's default loop) when the third argument is ``uvloop``.

    python -m benchmarks.floor_server MODEL PORT [asyncio|uvloop]
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
import joblib
import numpy as np

from drucker._wire import drucker_pb2
from drucker._wire import grpc_predict_v2_pb2 as v2

Handler = Callable[[Any, Any], Awaitable[Any]]


def handlers(model: Any) -> tuple[Handler, Handler]:
    """The floor's ``Predict_ArrFloat_String`` and ``ModelInfer`` handlers for ``model``."""
    classes = model.classes_

    async def predict(request: Any, context: Any) -> Any:
        proba = model.predict_proba(np.asarray([request.input], dtype=np.float64))[0]
        best = int(proba.argmax())
        return drucker_pb2.StringOutput(output=str(classes[best]), score=float(proba[best]))

    async def infer(request: Any, context: Any) -> Any:
        tensor = request.inputs[0]
        rows = np.asarray(tensor.contents.fp32_contents, dtype=np.float64).reshape(
            tuple(tensor.shape)
        )
        proba = model.predict_proba(rows)
        best = proba.argmax(axis=1)
        response = v2.ModelInferResponse(model_name=request.model_name, id=request.id)
        label = response.outputs.add(name="label", datatype="BYTES", shape=[len(best)])
        label.contents.bytes_contents.extend(str(c).encode() for c in classes[best])
        score = response.outputs.add(name="score", datatype="FP32", shape=[len(best)])
        score.contents.fp32_contents.extend(proba[np.arange(len(best)), best].tolist())
        return response

    return predict, infer


def _one_rpc(
    service: str, method: str, behaviour: Any, request: Any, response: Any
) -> grpc.GenericRpcHandler:
    """A generic handler for one unary rpc of ``service``."""
    return grpc.method_handlers_generic_handler(
        service,
        {
            method: grpc.unary_unary_rpc_method_handler(
                behaviour,
                request_deserializer=request.FromString,
                response_serializer=response.SerializeToString,
            )
        },
    )


async def serve(model_path: str, port: int) -> None:
    predict, infer = handlers(joblib.load(model_path))
    v2_handler = _one_rpc(
        "inference.GRPCInferenceService", "ModelInfer", infer, v2.ModelInferRequest,
        v2.ModelInferResponse,
    )  # fmt: skip
    handler = _one_rpc(
        "drucker.DruckerWorker", "Predict_ArrFloat_String", predict, drucker_pb2.ArrFloatInput,
        drucker_pb2.StringOutput,
    )  # fmt: skip
    # Big messages allowed, as drucker allows them (``python -m benchmarks.big_tensor``).
    limits = [
        ("grpc.max_receive_message_length", 1 << 28),
        ("grpc.max_send_message_length", 1 << 28),
    ]
    server = grpc.aio.server(options=limits)
    server.add_generic_rpc_handlers((handler, v2_handler))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1)


if __name__ == "__main__":
    loop = sys.argv[3] if len(sys.argv) > 3 else "asyncio"
    factory = None
    if loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(sys.argv[1], int(sys.argv[2])))
