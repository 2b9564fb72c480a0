"""What drucker adds to one rpc in this process, without the network: the event-loop thread's
CPU time per call of the guarded handler, against the floor's handler on the same request.

    python -m benchmarks.handler_overhead          # Predict_ArrFloat_String, one row
    python -m benchmarks.handler_overhead --v2     # V2 ModelInfer, a [64, 20] FP32 tensor
    python -m benchmarks.handler_overhead --calls  # Python calls per rpc (plain, batch plugin)

Both handlers get the same decoded request (``Predict_ArrFloat_String``, 20 floats) and a
stand-in for the rpc context; the drucker side is built as the server builds it (runtime with
the installed plugins, dispatcher, worker handler, rpc guard with the metrics recorder) from
settings that vary the logging and the metrics. The floor calls ``predict_proba`` itself; the
drucker side serves the same model through ``benchmarks/plugins/floor_work.py``, a plugin doing
exactly the floor's model work, so the difference is the framework. Each figure is the best of
5 runs of 2,000 calls (``time.thread_time``: the caller's CPU only), with the event loop given
a turn every 16 calls as a server's loop would; the lines are written by the event loop as in
a server, to the null device.

grpc's own work per rpc (HTTP/2, the C core, the loop's callbacks) is not in these figures: it
is the same for both servers and comes on top (``python -m benchmarks`` measures whole rpcs).

With ``--calls`` the drucker side is measured by the Python function calls one rpc makes in
drucker's own code (and the enum, contextlib and attrs code it calls), counted with
``sys.setprofile`` on the event loop with ``app.predict_threads: 0``: a count that does not
move with the machine's load, for comparing the handler chain of two checkouts on a busy
machine (the model's and grpc's calls are not counted).

With ``--v2`` both sides get a V2 ``ModelInfer`` of 64 rows of 20 floats in typed contents (as
tritonclient sends it), decoded from its bytes and answered into bytes on every call: the
floor's ``infer`` of ``benchmarks/floor_server.py`` against drucker's V2 servicer with the
scikit-learn plugin and default settings (and prediction logging off, for comparison).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Any

import joblib
import numpy as np

import drucker
from benchmarks.floor_server import handlers as floor_handlers
from benchmarks.model import sample_rows, train
from drucker._wire import drucker_pb2
from drucker._wire import grpc_predict_v2_pb2 as v2
from drucker.dispatch import Dispatcher
from drucker.management import ModelManager
from drucker.models import ModelTable
from drucker.observability import Metrics
from drucker.observability.grpc_metrics import recorders
from drucker.protocol.drucker_worker import worker_rpc_handler
from drucker.protocol.guard import Guard
from drucker.protocol.v2.dataplane import DataPlane
from drucker.protocol.v2.servicer import InferenceServicer
from drucker.server.grpc_server import PREDICTION_RPCS
from drucker.server.lifecycle import build_runtime
from drucker.server.memory import MemoryPolicy
from drucker.settings import load_settings

METHOD = "/drucker.DruckerWorker/Predict_ArrFloat_String"
PLUGIN = str(Path(__file__).resolve().parent / "plugins" / "floor_work.py")
CALLS = 2000
RUNS = 5
VARIANTS = {
    "defaults (log on, metrics on)": {},
    "log off": {"DRUCKER_LOG_PREDICTIONS": "false"},
    "log off, metrics off": {"DRUCKER_LOG_PREDICTIONS": "false", "DRUCKER_METRICS_PORT": "0"},
}


class _Context:
    """What the handlers read of an rpc's context when it succeeds."""

    def code(self) -> None:
        return None

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def time_remaining(self) -> None:  # no deadline
        return None

    def cancelled(self) -> bool:
        return False


class _Details:
    method = METHOD
    invocation_metadata = ()


Handler = Callable[[Any, Any], Awaitable[Any]]


def _drucker_handler(
    model: Path, workdir: Path, environ: dict[str, str], plugin: str = PLUGIN
) -> tuple[Handler, Any]:
    settings = load_settings(
        None,
        environ={
            "DRUCKER_SERVICE_MODEL_DIR": str(workdir / "model"),
            "DRUCKER_SERVICE_EVAL_DIR": str(workdir / "eval"),
            **environ,
        },
    )
    runtime = build_runtime(plugin, settings)
    runtime.activate(runtime.load_model(model))
    dispatcher = Dispatcher(runtime, traced=False)  # as the server builds it without tracing
    models = ModelTable.of(ModelManager(runtime), dispatcher)
    handler = worker_rpc_handler(models, 1 << 20, settings.max_message_bytes)
    recorder_for = recorders(Metrics(), PREDICTION_RPCS) if settings.metrics_port else None
    guard = Guard(recorder_for=recorder_for, trimmer=MemoryPolicy())  # as the server's
    guarded = guard.wrap(METHOD, handler.service(_Details()))
    return guarded.unary_unary, guarded.request_deserializer


def _floor_handler(model_path: Path) -> Handler:
    predict, _ = floor_handlers(joblib.load(model_path))
    return predict


async def _best_us(handler: Handler, decode: Callable[[bytes], Any], body: bytes) -> float:
    context = _Context()
    best = float("inf")
    for _ in range(RUNS):
        started = time.thread_time()
        for index in range(CALLS):
            await handler(decode(body), context)
            if index % 16 == 0:
                await asyncio.sleep(0)
        best = min(best, (time.thread_time() - started) / CALLS * 1e6)
    return best


async def _measure(model: Path, workdir: Path) -> None:
    body = drucker_pb2.ArrFloatInput(input=np.linspace(-1, 1, 20).tolist()).SerializeToString()
    floor = await _best_us(_floor_handler(model), drucker_pb2.ArrFloatInput.FromString, body)
    print(f"{'floor handler':32s} {floor:7.1f} us per call")
    for label, environ in VARIANTS.items():
        handler, decode = _drucker_handler(model, workdir / str(len(label)), environ)
        drucker = await _best_us(handler, decode, body)
        print(f"{'drucker, ' + label:32s} {drucker:7.1f} us per call (+{drucker - floor:.1f} us)")


COUNTED = (str(Path(drucker.__file__).parent), "contextlib", "enum.py", "<attrs generated")


async def _calls_per_rpc(handler: Handler, decode: Callable[[bytes], Any], body: bytes) -> int:
    """The Python calls (and coroutine resumptions) of one rpc in the counted code."""
    context = _Context()
    for _ in range(50):  # past the placement's first window and any first-call work
        await handler(decode(body), context)
    count = 0

    def profile(frame: FrameType, event: str, arg: object) -> None:
        nonlocal count
        if event == "call" and any(part in frame.f_code.co_filename for part in COUNTED):
            count += 1

    calls = 100
    sys.setprofile(profile)
    try:
        for _ in range(calls):
            await handler(decode(body), context)
    finally:
        sys.setprofile(None)
    return round(count / calls)


async def _measure_calls(model: Path, workdir: Path) -> None:
    body = drucker_pb2.ArrFloatInput(input=np.linspace(-1, 1, 20).tolist()).SerializeToString()
    for plugin, name in ((PLUGIN, "plain"), ("drucker_sklearn", "batch")):
        for label, environ in VARIANTS.items():
            environ = {**environ, "DRUCKER_APP_PREDICT_THREADS": "0"}
            where = workdir / f"{name}-{len(label)}"
            handler, decode = _drucker_handler(model, where, environ, plugin)
            calls = await _calls_per_rpc(handler, decode, body)
            print(f"{f'drucker {name}, {label}':40s} {calls:4d} Python calls per rpc")


V2_ROWS = 64
V2_VARIANTS = {"defaults": {}, "log off": {"DRUCKER_LOG_PREDICTIONS": "false"}}


def _floor_infer(model_path: Path) -> Handler:
    """The floor's V2 handler, answering the serialized response."""
    _, floor_infer = floor_handlers(joblib.load(model_path))

    async def infer(request: Any, context: Any) -> Any:
        return (await floor_infer(request, context)).SerializeToString()

    return infer


def _drucker_infer(model: Path, workdir: Path, environ: dict[str, str]) -> Handler:
    """drucker's V2 servicer as the server builds it, answering the serialized response."""
    settings = load_settings(
        None,
        environ={
            "DRUCKER_SERVICE_MODEL_DIR": str(workdir / "model"),
            "DRUCKER_SERVICE_EVAL_DIR": str(workdir / "eval"),
            "DRUCKER_APPLICATION_NAME": "bench",
            **environ,
        },
    )
    runtime = build_runtime("drucker_sklearn", settings)
    runtime.activate(runtime.load_model(model))
    servicer = InferenceServicer(
        DataPlane(ModelTable.of(ModelManager(runtime), Dispatcher(runtime, traced=False)))
    )

    async def infer(request: Any, context: Any) -> Any:
        return (await servicer.ModelInfer(request, context)).SerializeToString()

    return infer


async def _measure_v2(model: Path, workdir: Path) -> None:
    rows = sample_rows()[:V2_ROWS]
    request = v2.ModelInferRequest(model_name="bench")
    tensor = request.inputs.add(name="input-0", datatype="FP32", shape=list(rows.shape))
    tensor.contents.fp32_contents.extend(rows.reshape(-1).tolist())
    body = request.SerializeToString()
    decode = v2.ModelInferRequest.FromString
    floor = await _best_us(_floor_infer(model), decode, body)
    print(f"{'floor V2 handler':32s} {floor:7.1f} us per [{V2_ROWS}, 20] request")
    for label, environ in V2_VARIANTS.items():
        handler = _drucker_infer(model, workdir / label.replace(" ", "-"), environ)
        drucker = await _best_us(handler, decode, body)
        print(
            f"{'drucker V2, ' + label:32s} {drucker:7.1f} us per [{V2_ROWS}, 20] request "
            f"({drucker / floor:.2f} x the floor)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--v2", action="store_true", help="V2 [64, 20] requests instead")
    parser.add_argument("--calls", action="store_true", help="Python calls per rpc instead")
    args = parser.parse_args()
    measure = _measure_calls if args.calls else _measure_v2 if args.v2 else _measure
    with tempfile.TemporaryDirectory(prefix="drucker-bench-") as temp:
        workdir = Path(temp)
        model = train(workdir / "model.joblib")
        # The prediction lines go where a server's would, but to the null device.
        null = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run
        sys.stderr = null
        try:
            asyncio.run(measure(model, workdir))
        finally:
            sys.stderr = sys.__stderr__
            null.close()


if __name__ == "__main__":
    main()
