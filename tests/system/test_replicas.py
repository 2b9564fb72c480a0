"""Three `drucker serve` replicas on one S3 store (moto's server on loopback): an upload and a
switch through any replica reach all of them, under load without a lost request; rollback and
history; an S3 outage and a corrupted object; two concurrent switches."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from drucker.client import Client, ManagementError
from tests.conftest import ECHO_PLUGIN
from tests.polling import wait_for
from tests.s3 import S3Server, running_s3
from tests.serving import ServeProcess, free_port

TOKEN = "replicas-token"
FOLLOW_INTERVAL = 0.2
MODELS = {"b.model": "echo-b", "c.model": "echo-c"}


class Replica:
    """One `drucker serve` process of the cluster."""

    def __init__(self, workdir: Path, env: dict[str, str], model: Path) -> None:
        workdir.mkdir()
        self.port = free_port()
        self.process = ServeProcess(
            ["--plugin", ECHO_PLUGIN, "--model", str(model), "--port", str(self.port)],
            cwd=workdir,
            env={**env, "DRUCKER_STORE_CACHE_DIR": str(workdir / "cache")},
        )
        self.client = Client(f"127.0.0.1:{self.port}", token=TOKEN)
        self.store_url = env["DRUCKER_STORE_URL"]

    def serving(self) -> str:
        """The model that answers a prediction now (the echo plugin names it)."""
        return str(self.client.predict("x").option["model"])


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


@pytest.fixture(scope="module")
def replicas(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:
    root = tmp_path_factory.mktemp("replicas")
    model = root / "echo-a.model"
    model.write_text("echo-a\n")
    env = {
        **s3.env,
        "DRUCKER_STORE_URL": s3.new_bucket() + "/store",
        "DRUCKER_STORE_FOLLOW_INTERVAL": str(FOLLOW_INTERVAL),
        "DRUCKER_MANAGEMENT_TOKEN": TOKEN,
        "DRUCKER_SERVICE_NAME": "replicas",
    }
    cluster = [Replica(root / f"replica-{i}", env, model) for i in range(3)]
    try:
        for replica in cluster:
            replica.process.wait_serving(replica.port)
        for name, text in MODELS.items():
            (root / name).write_text(text + "\n")
            cluster[0].client.upload_model(root / name, name)
        yield cluster
    finally:
        for replica in cluster:
            replica.client.close()
            replica.process.terminate()


def all_serve(replicas: list[Replica], text: str, limit: float = 10) -> None:
    wait_for(lambda: all(r.serving() == text for r in replicas), f"all replicas on {text}", limit)


def test_upload_and_switch_through_any_replica_reach_all(replicas: list[Replica]) -> None:
    assert "b.model is serving" in replicas[1].client.switch_model("b.model")
    all_serve(replicas, "echo-b", limit=5)  # followed within the store's poll, not a clock
    for replica in replicas:
        info = replica.client.service_info()
        assert info.model_name == "b.model"
        assert info.model_sha256 == hashlib.sha256(b"echo-b\n").hexdigest()
        models, serving = replica.client.list_models()
        # the start file is kept in the shared store too, so any replica can roll back to it
        assert serving == "b.model" and {m.name for m in models} == {"echo-a.model", *MODELS}


def test_switches_under_load_lose_no_request(replicas: list[Replica]) -> None:
    replicas[0].client.switch_model("b.model")
    all_serve(replicas, "echo-b")
    answers: Counter[str] = Counter()
    failures: list[BaseException] = []
    stop = threading.Event()

    def load(replica: Replica) -> None:
        with Client(f"127.0.0.1:{replica.port}", max_attempts=1) as client:
            while not stop.is_set():
                try:
                    answers[str(client.predict("x").option["model"])] += 1
                except Exception as error:  # every failure is a lost request
                    failures.append(error)

    threads = [threading.Thread(target=load, args=(replicas[i % 3],)) for i in range(8)]
    for thread in threads:
        thread.start()
    try:
        for turn in range(10):
            name, text = ("c.model", "echo-c") if turn % 2 == 0 else ("b.model", "echo-b")
            replicas[turn % 3].client.switch_model(name)
            all_serve(replicas, text)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert set(answers) == {"echo-b", "echo-c"}
    assert sum(answers.values()) > 100


def test_rollback_returns_every_replica_and_history_lists_it(replicas: list[Replica]) -> None:
    replicas[0].client.switch_model("c.model")
    replicas[1].client.switch_model("b.model")
    all_serve(replicas, "echo-b")
    assert "c.model is serving" in replicas[2].client.rollback_model()
    all_serve(replicas, "echo-c")
    history = replicas[0].client.model_history()
    assert [(h.from_name, h.to_name, h.result) for h in history[-3:]] == [
        ("b.model", "c.model", "ok"),
        ("c.model", "b.model", "ok"),
        ("b.model", "c.model", "ok"),
    ]
    assert history[-1].by.startswith("rollback")
    assert history == replicas[2].client.model_history()


def test_concurrent_switches_end_in_agreement(replicas: list[Replica]) -> None:
    before = len(replicas[0].client.model_history())
    barrier = threading.Barrier(2)

    def switch(replica: Replica, name: str) -> None:
        barrier.wait()
        replica.client.switch_model(name)

    threads = [
        threading.Thread(target=switch, args=(replicas[0], "b.model")),
        threading.Thread(target=switch, args=(replicas[1], "c.model")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_for(lambda: len({r.serving() for r in replicas}) == 1, "agreement", 10)
    winner = replicas[0].serving()
    assert winner in ("echo-b", "echo-c")
    assert {r.client.service_info().model_name for r in replicas} == {f"{winner[-1]}.model"}
    history = replicas[0].client.model_history()[before:]
    assert sorted((h.to_name, h.result) for h in history) == [
        ("b.model", "ok"),
        ("c.model", "ok"),
    ]


def test_a_store_outage_keeps_predictions_and_fails_switches_cleanly(
    replicas: list[Replica], s3: S3Server
) -> None:
    replicas[0].client.switch_model("b.model")
    all_serve(replicas, "echo-b")
    with s3.down():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert [r.serving() for r in replicas] == ["echo-b"] * 3
            time.sleep(0.5)
        with pytest.raises(ManagementError, match="Switching model file"):
            replicas[1].client.switch_model("c.model")
        assert [r.serving() for r in replicas] == ["echo-b"] * 3
    # The store is back: a switch through any replica reaches all of them again.
    wait_for(lambda: _switched(replicas[2], "c.model"), "a switch after the outage", 20)
    all_serve(replicas, "echo-c", limit=20)  # the others look again within 10 s of a failure


def _switched(replica: Replica, name: str) -> bool:
    try:
        replica.client.switch_model(name)
    except ManagementError:
        return False
    return True


def test_a_corrupted_object_is_never_served(
    replicas: list[Replica], s3: S3Server, tmp_path: Path
) -> None:
    replicas[0].client.switch_model("b.model")
    all_serve(replicas, "echo-b")
    model = tmp_path / "d.model"
    model.write_text("echo-d\n")
    replicas[0].client.upload_model(model, "d.model")
    sha = hashlib.sha256(b"echo-d\n").hexdigest()
    bucket, _, prefix = replicas[0].store_url.removeprefix("s3://").partition("/")
    key = f"{prefix}/drucker/models/objects/{sha}"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"echo-evil\n")
    with pytest.raises(ManagementError, match="refused"):
        replicas[1].client.switch_model("d.model")
    assert [r.serving() for r in replicas] == ["echo-b"] * 3
    assert replicas[1].client.service_info().model_name == "b.model"
