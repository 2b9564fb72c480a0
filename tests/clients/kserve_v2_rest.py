"""KServe's own ``InferenceRESTClient`` against a V2 REST server, as a separate process.

kserve and tritonclient register the same protobuf names, so kserve runs apart from the tests.

    python -m tests.clients.kserve_v2_rest BASE_URL MODEL ROWS_JSON

Prints one JSON object: health answers and, per content mode (json; binary tensors both ways),
the labels and scores returned for the rows, with the response's id.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput

from tests.clients import outputs


def _request(model: str, rows: np.ndarray, binary: bool) -> InferRequest:
    tensor = InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows, binary_data=binary)
    outputs = [
        RequestedOutput(name, parameters={"binary_data": binary}) for name in ("label", "score")
    ]
    request_id = f"kserve-{'binary' if binary else 'json'}"
    return InferRequest(model, [tensor], request_id=request_id, request_outputs=outputs)


async def main(base_url: str, model: str, rows: np.ndarray) -> dict[str, Any]:
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=10))
    try:
        answer: dict[str, Any] = {
            "live": await client.is_server_live(base_url),
            "ready": await client.is_server_ready(base_url),
            "model_ready": await client.is_model_ready(base_url, model),
        }
        for mode in ("json", "binary"):
            request = _request(model, rows, mode == "binary")
            response = await client.infer(base_url, request, model_name=model)
            answer[mode] = outputs(response)
        return answer
    finally:
        await client.close()


if __name__ == "__main__":
    base_url, model, rows_json = sys.argv[1:4]
    rows = np.asarray(json.loads(rows_json), dtype=np.float32)
    print(json.dumps(asyncio.run(main(base_url, model, rows))))
