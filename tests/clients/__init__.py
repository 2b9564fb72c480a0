"""Third-party V2 clients run as separate processes, and what their answers must match.

kserve registers its V2 messages in protobuf's default pool under the same full names as
tritonclient's, so both cannot be imported in one process: the tests run these scripts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO


def outputs(response: Any) -> dict[str, Any]:
    """A KServe response's id, labels (as text) and scores."""
    by_name = {output.name: output.as_numpy() for output in response.outputs}
    labels = [v.decode() if isinstance(v, bytes) else str(v) for v in by_name["label"].tolist()]
    return {"id": response.id, "labels": labels, "scores": by_name["score"].tolist()}


def run_client(module: str, address: str, model: str, rows: np.ndarray) -> dict[str, Any]:
    """Run ``python -m tests.clients.MODULE ADDRESS MODEL ROWS_JSON``; its JSON answer."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            f"tests.clients.{module}",
            address,
            model,
            json.dumps(rows.tolist()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def assert_matches(
    answer: dict[str, Any], modes: tuple[str, ...], expected: list[tuple[str, float]]
) -> None:
    """Healthy server, and in every content mode the labels and scores ``expected``."""
    assert (answer["live"], answer["ready"], answer["model_ready"]) == (True, True, True)
    for mode in modes:
        assert answer[mode]["id"] == f"kserve-{mode}"
        assert answer[mode]["labels"] == [label for label, _ in expected]
        assert answer[mode]["scores"] == pytest.approx([s for _, s in expected], abs=1e-6)


def assert_int_rows_come_back(triton: Any, client: Any) -> None:
    """Through ``client``, a client of tritonclient's module ``triton`` (its gRPC or its HTTP
    one) to the echo plugin, INT64 rows come back as they were sent."""
    ints = triton.InferInput("input", [2, 2], "INT64")
    ints.set_data_from_numpy(np.array([[1, 2], [3, 4]], dtype=np.int64))
    result = client.infer("drucker", [ints], parameters={"output_kind": "ArrInt"})
    assert result.as_numpy("label").tolist() == [[1, 2], [3, 4]]
