"""The README's replica steps on a shared S3 store: `serve --model v1` on each replica, upload
v2, switch, roll back: the rollback returns to v1 (the start-up model is put in the store)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from drucker.client import Client
from tests.conftest import ECHO_PLUGIN
from tests.polling import wait_for
from tests.s3 import S3Server, running_s3
from tests.serving import ServeProcess, free_port

TOKEN = "startup-token"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


def test_rollback_returns_to_the_start_up_model(s3: S3Server, tmp_path: Path) -> None:
    v1, v2 = tmp_path / "v1.model", tmp_path / "v2.model"
    v1.write_text("echo-v1\n")
    v2.write_text("echo-v2\n")
    env = {
        **s3.env,
        "DRUCKER_STORE_URL": s3.new_bucket() + "/store",
        "DRUCKER_STORE_FOLLOW_INTERVAL": "0.2",
        "DRUCKER_MANAGEMENT_TOKEN": TOKEN,
    }
    replicas: list[tuple[ServeProcess, Client]] = []
    try:
        for index in range(2):
            workdir = tmp_path / f"replica-{index}"
            workdir.mkdir()
            port = free_port()
            process = ServeProcess(
                ["--plugin", ECHO_PLUGIN, "--model", str(v1), "--port", str(port)],
                cwd=workdir,
                env={**env, "DRUCKER_STORE_CACHE_DIR": str(workdir / "cache")},
            )
            process.wait_serving(port)
            replicas.append((process, Client(f"127.0.0.1:{port}", token=TOKEN)))
        first, second = replicas[0][1], replicas[1][1]
        stored = {m.name: m.sha256 for m in first.list_models()[0]}
        assert stored["v1.model"] == hashlib.sha256(v1.read_bytes()).hexdigest()
        first.upload_model(v2, "v2.model")
        assert "v2.model is serving" in second.switch_model("v2.model")

        def all_serve(model: str) -> bool:
            return all(client.predict("x").option["model"] == model for _, client in replicas)

        wait_for(lambda: all_serve("echo-v2"), "both replicas on v2", 10)
        assert "v1.model is serving" in first.rollback_model()
        wait_for(lambda: all_serve("echo-v1"), "both replicas back on v1", 10)
        history = second.model_history()
        assert [(h.from_name, h.to_name, h.ok) for h in history][-2:] == [
            ("v1.model", "v2.model", True),
            ("v2.model", "v1.model", True),
        ]
    finally:
        for process, client in replicas:
            client.close()
            process.terminate()
