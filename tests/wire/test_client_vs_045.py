"""Our client against the original drucker 0.4.5 server (from PyPI, in its own virtualenv).

The virtualenv is the benchmarks' (``python -c 'from benchmarks.peers import
ensure_drucker045; ensure_drucker045()'``, which .ci/run does); without it the test skips.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.peers import DRUCKER045_PYTHON
from drucker.client import Client, Unavailable
from tests.conftest import REPO
from tests.serving import free_port

SERVER = REPO / "benchmarks" / "app045" / "server045.py"


@pytest.fixture(scope="module")
def server045(iris_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not DRUCKER045_PYTHON.exists():
        pytest.skip(f"no drucker 0.4.5 virtualenv at {DRUCKER045_PYTHON}")
    port = free_port()
    log = (tmp_path_factory.mktemp("d045") / "server.log").open("wb")
    process = subprocess.Popen(
        [str(DRUCKER045_PYTHON), str(SERVER), str(iris_model), str(port)], stdout=log, stderr=log
    )
    target = f"127.0.0.1:{port}"
    try:
        with Client(target, timeout=2, max_attempts=1) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.predict([5.1, 3.5, 1.4, 0.2])
                    break
                except Unavailable:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.2)
        yield target
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.mark.parametrize(
    ("row", "species"),
    [([5.1, 3.5, 1.4, 0.2], "setosa"), ([6.4, 3.2, 4.5, 1.5], "versicolor")],
)
def test_our_client_predicts_with_the_0_4_5_server(
    server045: str, row: list[float], species: str
) -> None:
    with Client(server045) as client:
        result = client.predict(row, output="String")
        assert result.label == species and 0.5 < result.score <= 1
        assert client.predict([int(v) for v in row], output="String").label in {
            "setosa",
            "versicolor",
            "virginica",
        }
