"""KServe's own ``InferenceGRPCClient`` against a V2 server, as a separate process.

    python -m tests.clients.kserve_v2 TARGET MODEL ROWS_JSON

Prints one JSON object: health answers and, per content mode (typed, raw), the labels and
scores returned for the rows, with the response's id.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
from kserve import InferenceGRPCClient, InferInput, InferRequest
from kserve.protocol.infer_type import RequestedOutput

from tests.clients import outputs


def _request(model: str, rows: np.ndarray, raw: bool) -> InferRequest:
    if raw:
        tensor = InferInput("input", list(rows.shape), "FP32", data=rows)
    else:
        tensor = InferInput("input", list(rows.shape), "FP32", data=rows.ravel().tolist())
    outputs = [RequestedOutput("label"), RequestedOutput("score")]
    request_id = "kserve-raw" if raw else "kserve-typed"
    return InferRequest(model, [tensor], request_id=request_id, request_outputs=outputs)


async def main(target: str, model: str, rows: np.ndarray) -> dict[str, Any]:
    async with InferenceGRPCClient(target, timeout=10) as client:
        answer: dict[str, Any] = {
            "live": await client.is_server_live(),
            "ready": await client.is_server_ready(),
            "model_ready": await client.is_model_ready(model),
        }
        for mode in ("typed", "raw"):
            response = await client.infer(_request(model, rows, raw=mode == "raw"))
            answer[mode] = outputs(response)
        return answer


if __name__ == "__main__":
    target, model, rows_json = sys.argv[1:4]
    rows = np.asarray(json.loads(rows_json), dtype=np.float32)
    print(json.dumps(asyncio.run(main(target, model, rows))))
