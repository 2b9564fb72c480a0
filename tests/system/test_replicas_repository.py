"""Two `drucker serve` replicas on one S3 store (moto's server on loopback): a model loaded
through one replica's repository is loaded by the other, an unload too; the followed model
follows its switches as well; an unload while the store is down changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from drucker.client import Client
from drucker.client.errors import NotFound, Unavailable
from tests.conftest import ECHO_PLUGIN
from tests.polling import wait_for
from tests.s3 import S3Server, running_s3
from tests.serving import ServeProcess, free_port

TOKEN = "repository-replicas-token"


class Replica:
    def __init__(self, workdir: Path, env: dict[str, str], models: list[str]) -> None:
        workdir.mkdir()
        self.port = free_port()
        args = ["--plugin", ECHO_PLUGIN, "--port", str(self.port)]
        for model in models:
            args += ["--model", model]
        self.process = ServeProcess(
            args, cwd=workdir, env={**env, "DRUCKER_STORE_CACHE_DIR": str(workdir / "cache")}
        )
        self.target = f"127.0.0.1:{self.port}"
        self.client = Client(self.target, token=TOKEN)

    def serving(self, model: str) -> str | None:
        """What model ``model`` answers with, or None when it is not served."""
        with Client(self.target, model=model, max_attempts=1) as client:
            try:
                return str(client.predict("x").option["model"])
            except NotFound:
                return None


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


@pytest.fixture
def pair(s3: S3Server, tmp_path: Path) -> Iterator[list[Replica]]:
    for name in ("app", "beta", "gamma"):
        (tmp_path / f"{name}.model").write_text(f"echo-{name}\n")
    env = {
        **s3.env,
        "DRUCKER_STORE_URL": s3.new_bucket() + "/store",
        "DRUCKER_STORE_FOLLOW_INTERVAL": "0.2",
        "DRUCKER_MANAGEMENT_TOKEN": TOKEN,
    }
    app, beta, gamma = (f"{name}={tmp_path / name}.model" for name in ("app", "beta", "gamma"))
    # The first replica starts with beta (so the shared store holds it), the second without
    # (with gamma: a server of one model answers every name, as a 0.4.5 server did).
    replicas = [
        Replica(tmp_path / "one", env, [app, beta]),
        Replica(tmp_path / "two", env, [app, gamma]),
    ]
    try:
        for replica in replicas:
            replica.process.wait_serving(replica.port)
        yield replicas
    finally:
        for replica in replicas:
            replica.client.close()
            replica.process.terminate()


def test_a_load_and_an_unload_through_one_replica_reach_the_other(
    pair: list[Replica], tmp_path: Path
) -> None:
    one, two = pair
    assert one.serving("beta") == "echo-beta"
    assert two.serving("beta") is None
    one.client.unload_model("beta")  # nothing to follow on two: it does not serve beta
    wait_for(lambda: one.serving("beta") is None, "beta unloaded on the first replica")

    two.client.load_model("beta")  # from the shared store: the first replica follows
    assert two.serving("beta") == "echo-beta"
    wait_for(lambda: one.serving("beta") == "echo-beta", "the first replica to load beta")
    states = {row.name: row.state for row in one.client.repository_index()}
    assert states["app"] == states["beta"] == "READY"

    # the followed model follows its switches too
    beta = Client(two.target, token=TOKEN, model="beta")
    try:
        path = tmp_path / "beta-2.model"
        path.write_text("echo-beta-2\n")
        beta.upload_model(path, "beta-2.model")
        beta.switch_model("beta-2.model")
    finally:
        beta.close()
    wait_for(lambda: one.serving("beta") == "echo-beta-2", "the first replica to switch beta")

    two.client.unload_model("beta")
    wait_for(lambda: one.serving("beta") is None, "the first replica to unload beta")
    assert one.serving("app") == two.serving("app") == "echo-app"  # the others serve on
    lines = one.process.stderr.splitlines()
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    messages = [str(record.get("short_message", "")) for record in logged]
    assert "loaded model beta, following the model store" in messages
    assert "unloaded model beta, following the model store" in messages


def test_an_unload_in_a_store_outage_changes_nothing_and_followers_catch_up(
    pair: list[Replica], s3: S3Server
) -> None:
    one, two = pair
    with s3.down(), Client(one.target, token=TOKEN, max_attempts=1, timeout=60) as client:
        with pytest.raises(Unavailable) as caught:
            client.unload_model("beta")
        assert "record the unload of model 'beta'" in str(caught.value)
        # recorded before it is unloaded: it still serves here, and the others serve on
        assert one.serving("beta") == "echo-beta"
        assert one.serving("app") == two.serving("app") == "echo-app"
    # the store is back (its first answers may be slow: a generous deadline, not a clock)
    with Client(one.target, token=TOKEN, timeout=60) as patient:
        patient.unload_model("beta")  # the retry does it
    assert one.serving("beta") is None
    with Client(two.target, token=TOKEN, timeout=60) as patient:
        patient.load_model("beta")
    # the first replica's follower looked less often while the store was out, at least every 10 s
    wait_for(lambda: one.serving("beta") == "echo-beta", "the first replica to follow", 60)
