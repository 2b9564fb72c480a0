"""Two `drucker serve` replicas on one S3 store (moto's server on loopback) follow a traffic
policy set through either of them, as they follow switches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drucker.client import Client
from drucker.store.cache import ObjectCache
from drucker.store.remote import RemoteModelStore, open_backend
from tests.polling import wait_for
from tests.s3 import S3Server, running_s3
from tests.serving import ServeProcess, free_port
from tests.traffic_support import PROBE_PLUGIN, TOKEN, predict_version

FOLLOW_INTERVAL = 0.2


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[tuple[ServeProcess, Client, int]]]:
    with running_s3() as s3:
        yield from _replicas(s3, tmp_path)


def _replicas(s3: S3Server, root: Path) -> Iterator[list[tuple[ServeProcess, Client, int]]]:
    for name, text in {"v1": "A", "v2": "B"}.items():
        (root / name).write_text(text + "\n")
    env = {
        **s3.env,
        "DRUCKER_STORE_URL": s3.new_bucket() + "/store",
        "DRUCKER_STORE_FOLLOW_INTERVAL": str(FOLLOW_INTERVAL),
        "DRUCKER_MANAGEMENT_TOKEN": TOKEN,
        "DRUCKER_SERVICE_NAME": "traffic-replicas",
    }
    cluster = []
    for i in range(2):
        workdir = root / f"replica-{i}"
        workdir.mkdir()
        port = free_port()
        process = ServeProcess(
            ["--plugin", PROBE_PLUGIN, "--model", str(root / "v1"), "--port", str(port)],
            cwd=workdir,
            env={**env, "DRUCKER_STORE_CACHE_DIR": str(workdir / "cache")},
        )
        cluster.append((process, Client(f"127.0.0.1:{port}", token=TOKEN), port))
    try:
        for process, _, port in cluster:
            process.wait_serving(port)
        cluster[0][1].upload_model(root / "v2", "v2")
        yield cluster
    finally:
        for process, client, _ in cluster:
            client.close()
            process.terminate()


def _versions(port: int) -> set[str]:
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return {predict_version(channel, str(i))[1] for i in range(60)}


def test_both_replicas_follow_a_policy_set_through_one(
    pair: list[tuple[ServeProcess, Client, int]],
) -> None:
    (_, first, first_port), (_, second, second_port) = pair
    first.set_split({"v1": 50, "v2": 50})
    wait_for(lambda: second.traffic().split == {"v1": 50.0, "v2": 50.0}, "the second follows")
    assert _versions(second_port) == {"v1", "v2"}
    second.set_split({"v1": 100})
    second.set_shadow("v2", 1.0)
    wait_for(
        lambda: (t := first.traffic()).split == {"v1": 100.0} and t.shadow_version == "v2",
        "the first follows back",
    )
    assert _versions(first_port) == {"v1"}
    second.clear_traffic()
    wait_for(lambda: first.traffic().split == {}, "the first follows the clear")
    assert any(event.traffic == "traffic cleared" for event in first.model_history())


def test_the_policy_record_is_read_only_when_its_etag_changed(tmp_path: Path) -> None:
    with running_s3() as s3:
        url = s3.new_bucket() + "/app"
        writer, reader = (
            RemoteModelStore(open_backend(url), ObjectCache(tmp_path / name)) for name in "ab"
        )
        reads: list[str] = []
        read = reader.backend.read

        def counted(path: str) -> tuple[object, str | None]:
            reads.append(path)
            return read(path)

        reader.backend.read = counted  # type: ignore[method-assign]
        assert reader.traffic_record() is None and reads == []  # absent: the HEAD says so
        writer.set_traffic_record({"split": [["v1", 90], ["v2", 10]]})
        for _ in range(3):  # every follow tick
            assert reader.traffic_record() == {"split": [["v1", 90], ["v2", 10]]}
        assert len(reads) == 1
        writer.set_traffic_record({"shadow": "v2"})
        assert reader.traffic_record() == {"shadow": "v2"} and len(reads) == 2
        writer.set_traffic_record(None)
        assert reader.traffic_record() is None and reader.traffic_record() is None
        assert len(reads) == 3
