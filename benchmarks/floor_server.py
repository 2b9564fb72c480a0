"""The floor: a bare grpcio server whose handler calls the model directly.

It speaks the Drucker protocol's ``Predict_ArrFloat_String`` and does the same model work as
drucker's scikit-learn plugin (``predict_proba`` and the best class), nothing else.

    python -m benchmarks.floor_server MODEL PORT
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import grpc
import grpc.aio
import joblib
import numpy as np

from drucker._wire import drucker_pb2


async def serve(model_path: str, port: int) -> None:
    model = joblib.load(model_path)
    classes = model.classes_

    async def predict(request: Any, context: Any) -> Any:
        proba = model.predict_proba(np.asarray([request.input], dtype=np.float64))[0]
        best = int(proba.argmax())
        return drucker_pb2.StringOutput(output=str(classes[best]), score=float(proba[best]))

    handler = grpc.method_handlers_generic_handler(
        "drucker.DruckerWorker",
        {
            "Predict_ArrFloat_String": grpc.unary_unary_rpc_method_handler(
                predict,
                request_deserializer=drucker_pb2.ArrFloatInput.FromString,
                response_serializer=drucker_pb2.StringOutput.SerializeToString,
            )
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
