"""The router's own cost per prediction, without the network: the best of 7 runs of 20,000
predictions through a model's plain dispatcher, through a router with a 90/10 split (by
chance and by route key), and with a shadow of fraction 0.1; for a model that answers a
constant (the router's cost alone) and for the iris model.

    python -m benchmarks.traffic_path

Req/s on a shared machine moves by more than the few percent in question; this path hardly
moves with the machine's load (as ``benchmarks.metrics_cost`` times the rpc guard).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import drucker
from benchmarks.model import sample_rows, train
from drucker import PredictResult
from drucker.dispatch import Dispatcher
from drucker.kinds import Kind
from drucker.observability.traffic_metrics import TrafficMetrics
from drucker.registry import ActiveModel
from drucker.server.lifecycle import build_runtime
from drucker.settings import load_settings
from drucker.traffic.figures import ShadowCounts
from drucker.traffic.policy import TrafficPolicy
from drucker.traffic.router import TrafficRouter
from drucker.traffic.shadow import ShadowLane

CALLS = 20_000
RUNS = 7


class _Constant:
    """A model plugin that answers at once (no model file)."""

    @drucker.hookimpl
    def drucker_predict(self, model: Any, input: Any) -> PredictResult:
        return PredictResult(label="a", score=1.0)


class _Caller:
    """A caller without a deadline, as admission reads one (with a route key if given)."""

    def __init__(self, route_key: bytes | None = None) -> None:
        self.route_key = route_key

    def time_remaining(self) -> None:
        return None

    def cancelled(self) -> bool:
        return False


def _router(base: Dispatcher, other: ActiveModel, policy: TrafficPolicy) -> TrafficRouter:
    return TrafficRouter(
        "bench",
        base,
        {"v2": other},
        policy,
        TrafficMetrics(None),
        lambda version, reason: None,
        {},
        ShadowCounts(),
        ShadowLane(),
    )


async def _best(paths: dict[str, Any], caller: dict[str, Any]) -> dict[str, float]:
    row = [float(v) for v in sample_rows(1)[0]]
    best = dict.fromkeys(paths, float("inf"))
    for _ in range(RUNS):
        for name, predict in paths.items():
            started = time.perf_counter()
            for _ in range(CALLS):
                await predict(row, {}, Kind.ARR_FLOAT, Kind.STRING, caller=caller[name])
            best[name] = min(best[name], (time.perf_counter() - started) / CALLS)
            await asyncio.sleep(0.05)  # let the shadow tasks finish
    return best


def _paths(plugin: Any, workdir: Path) -> dict[str, float]:
    settings = load_settings(
        None,
        environ={},
        overrides={
            "model_dir": str(workdir / "model"),
            "eval_dir": str(workdir / "eval"),
            "predict_threads": 0,
            "log_predictions": False,
            "batching": False,
        },
    )
    runtime = build_runtime(plugin, settings, disabled=("jsonlog",))
    model = train(workdir / "v1.joblib")
    first = runtime.load_model(model, "v1.joblib")
    runtime.activate(first)
    other = runtime.load_model(model, "v2")
    base = Dispatcher(runtime, traced=False)
    split = TrafficPolicy(split=(("v1.joblib", 90.0), ("v2", 10.0)))
    shadow = TrafficPolicy(shadow="v2", fraction=0.1)
    paths = {
        "plain dispatcher": base.predict,
        "split 90/10": _router(base, other, split).predict,
        "split 90/10, route key": _router(base, other, split).predict,
        "shadow 0.1": _router(base, other, shadow).predict,
    }
    callers = {name: _Caller(b"customer-42" if "route key" in name else None) for name in paths}
    return asyncio.run(_best(paths, callers))


def main() -> None:
    for label, plugin in (("constant model", _Constant()), ("iris model", "drucker_sklearn")):
        with tempfile.TemporaryDirectory(prefix="drucker-bench-path-") as temp:
            best = _paths(plugin, Path(temp))
        plain = best["plain dispatcher"]
        print(label)
        for name, seconds in best.items():
            extra = "" if name == "plain dispatcher" else f" ({(seconds - plain) * 1e6:+.2f} us)"
            print(f"  {name:<24} {seconds * 1e6:7.2f} us per prediction{extra}")


if __name__ == "__main__":
    main()
