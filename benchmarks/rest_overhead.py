"""Per-request costs of the V2 REST binding's choices, in this process (no network):

    python -m benchmarks.rest_overhead

- JSON: orjson against the standard library, reading a one-row request and writing its answer;
- routing: the bare ASGI application against the same endpoint on Starlette (when installed).
"""

from __future__ import annotations

import asyncio
import json
import time
import timeit
from typing import Any

import numpy as np
import orjson

from benchmarks.loadgen import rest_body
from benchmarks.model import sample_rows
from drucker.protocol.v2.rest import V2RestApp

REPEAT = 5
NUMBER = 20_000


def _per_call_us(function: Any) -> float:
    return min(timeit.repeat(function, number=NUMBER, repeat=REPEAT)) / NUMBER * 1e6


def json_costs() -> dict[str, float]:
    body = rest_body(sample_rows()[0], [])
    score = np.array([0.3881601], dtype=np.float32)
    label = {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["0"]}

    def answer(data: Any) -> dict[str, Any]:
        output = {"name": "score", "datatype": "FP32", "shape": [1], "data": data}
        return {"model_name": "bench", "model_version": "m", "outputs": [label, output]}

    return {
        "read, orjson": _per_call_us(lambda: orjson.loads(body)),
        "read, json": _per_call_us(lambda: json.loads(body)),
        "write, orjson (numpy)": _per_call_us(
            lambda: orjson.dumps(answer(score), option=orjson.OPT_SERIALIZE_NUMPY)
        ),
        "write, json (tolist)": _per_call_us(lambda: json.dumps(answer(score.tolist())).encode()),
    }


class _Plane:
    def model_ready(self, name: str, version: str) -> bool:
        return True


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"x")],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
    }


async def _app_us(app: Any) -> float:
    scope = _scope("/v2/models/iris/ready")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    best = float("inf")
    for _ in range(REPEAT):
        started = time.perf_counter()
        for _ in range(NUMBER):
            await app(dict(scope), receive, send)
        best = min(best, (time.perf_counter() - started) / NUMBER * 1e6)
    return best


def routing_costs() -> dict[str, float]:
    bare = V2RestApp(_Plane(), None, token=None, max_body_bytes=1 << 20, body_timeout=30)  # type: ignore[arg-type]
    costs = {"bare ASGI app": asyncio.run(_app_us(bare))}
    try:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route
    except ImportError:
        return costs

    async def ready(request: Request) -> Response:
        content = orjson.dumps({"name": request.path_params["name"], "ready": True})
        return Response(content, media_type="application/json")

    starlette = Starlette(routes=[Route("/v2/models/{name}/ready", ready)])
    costs["Starlette"] = asyncio.run(_app_us(starlette))
    return costs


def main() -> None:
    for label, value in {**json_costs(), **routing_costs()}.items():
        print(f"{label:24} {value:7.2f} us per request")


if __name__ == "__main__":
    main()
