"""The object-storage backend against a real S3 API server (moto) and a shared directory:
content addressing, the verified cache, compare-and-set of the active record, faults."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from drucker.errors import (
    AlreadyExistsError,
    InUseError,
    InvalidInputError,
    ModelLoadError,
    NotFoundError,
    StoreUnavailableError,
)
from drucker.store.base import SwitchEvent
from drucker.store.cache import ObjectCache
from drucker.store.remote import RemoteModelStore, fetch_url, open_backend
from drucker.store.remote.results import RemoteResults
from tests.s3 import S3Server, running_s3


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


@pytest.fixture(params=["s3", "file"])
def store_url(request: pytest.FixtureRequest, s3: S3Server, tmp_path: Path) -> str:
    if request.param == "s3":
        return s3.new_bucket() + "/app"
    return f"file://{tmp_path}/shared/app"


def replica(url: str, cache: Path) -> RemoteModelStore:
    """The model store as one replica sees it (its own cache)."""
    return RemoteModelStore(open_backend(url), ObjectCache(cache))


def put(store: RemoteModelStore, name: str, data: bytes) -> str:
    with store.begin(name, 1 << 20) as upload:
        upload.write(data)
        return upload.commit().sha256


def s3_object(url: str, key: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, f"{prefix}/{key}"


def test_upload_is_content_addressed_and_cached(store_url: str, tmp_path: Path) -> None:
    store = replica(store_url, tmp_path / "cache-1")
    sha = put(store, "a.model", b"model-a")
    assert sha == hashlib.sha256(b"model-a").hexdigest()
    assert [(f.name, f.size, f.sha256) for f in store.list()] == [("a.model", 7, sha)]
    with store.checkout("a.model") as (stored, path):
        assert path.read_bytes() == b"model-a" and stored.sha256 == sha
        assert path.name == f"{sha}.model"
    # Another replica sees the same index; a second upload of equal bytes adds a name only.
    other = replica(store_url, tmp_path / "cache-2")
    assert put(other, "copy.model", b"model-a") == sha
    assert [f.name for f in store.list()] == ["a.model", "copy.model"]


def test_cached_objects_are_not_downloaded_again(s3: S3Server, tmp_path: Path) -> None:
    url = s3.new_bucket() + "/app"
    store = replica(url, tmp_path / "cache")
    sha = put(store, "a.model", b"model-a")
    with store.checkout("a.model"):
        pass
    bucket, key = s3_object(url, f"models/objects/{sha}")
    boto3.client("s3").delete_object(Bucket=bucket, Key=key)
    with store.checkout("a.model") as (_, path):  # served from the cache, no download
        assert path.read_bytes() == b"model-a"
    fresh = replica(url, tmp_path / "other-cache")
    with pytest.raises(Exception, match="no object"), fresh.checkout("a.model"):
        pass


def test_a_corrupted_cache_entry_is_fetched_again(store_url: str, tmp_path: Path) -> None:
    store = replica(store_url, tmp_path / "cache")
    put(store, "a.model", b"model-a")
    with store.checkout("a.model") as (_, path):
        cached = path
    cached.write_bytes(b"bit rot")
    with store.checkout("a.model") as (_, path):
        assert path.read_bytes() == b"model-a"


def test_a_corrupted_object_is_refused(s3: S3Server, tmp_path: Path) -> None:
    url = s3.new_bucket() + "/app"
    store = replica(url, tmp_path / "cache")
    sha = put(store, "a.model", b"model-a")
    bucket, key = s3_object(url, f"models/objects/{sha}")
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"model-evil")
    with pytest.raises(ModelLoadError, match="refused"), store.checkout("a.model"):
        pass
    assert not list((tmp_path / "cache").glob(f"{sha}*"))


def test_an_aborted_or_wrong_upload_leaves_nothing(store_url: str, tmp_path: Path) -> None:
    store = replica(store_url, tmp_path / "cache")
    with store.begin("a.model", 1 << 20) as upload:
        upload.write(b"half a mod")
    with pytest.raises(InvalidInputError, match="sha256 mismatch"):
        with store.begin("b.model", 1 << 20) as upload:
            upload.write(b"model-b")
            upload.commit("0" * 64)
    assert store.list() == []
    assert not list((tmp_path / "cache" / "spool").iterdir())
    fs, root = store.backend.fs, store.backend.root
    assert not fs.exists(f"{root}/models/objects")


def test_the_active_name_cannot_be_uploaded_again(store_url: str, tmp_path: Path) -> None:
    store = replica(store_url, tmp_path / "cache")
    put(store, "a.model", b"model-a")
    store.set_active(store.get("a.model"))
    with pytest.raises(AlreadyExistsError):
        put(store, "a.model", b"model-b")
    assert store.get("a.model").sha256 == hashlib.sha256(b"model-a").hexdigest()


def test_concurrent_switches_are_never_lost(store_url: str, tmp_path: Path) -> None:
    """Compare-and-set: 9 switches from 3 replicas, each counted once in the generation."""
    first = replica(store_url, tmp_path / "cache-0")
    stored = [first.get(name) for name in (put(first, "a.model", b"a") and "a.model",)]
    stored.append(first.get(put(first, "b.model", b"b") and "b.model"))
    replicas = [replica(store_url, tmp_path / f"cache-{i}") for i in range(3)]
    previous: list[str | None] = []

    def switch(store: RemoteModelStore, index: int) -> None:
        for turn in range(3):
            old = store.set_active(stored[(index + turn) % 2])
            previous.append(old.name if old else None)

    threads = [threading.Thread(target=switch, args=(r, i)) for i, r in enumerate(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    record = first.active_record()
    assert record is not None and record.generation == 9
    assert record.name in ("a.model", "b.model")
    assert previous.count(None) == 1  # exactly one switch found no record before it


def test_history_is_shared_and_ordered(store_url: str, tmp_path: Path) -> None:
    one, two = replica(store_url, tmp_path / "c1"), replica(store_url, tmp_path / "c2")
    for index, store in enumerate((one, two, one)):
        store.record_switch(SwitchEvent(float(index), f"m{index}", "s", None, None, "t", "ok"))
    assert [event.to_name for event in two.history()] == ["m0", "m1", "m2"]


def test_fetch_url_verifies_the_digest(s3: S3Server, tmp_path: Path) -> None:
    url = s3.new_bucket()
    bucket = url.removeprefix("s3://")
    boto3.client("s3").put_object(Bucket=bucket, Key="models/iris.joblib", Body=b"model-a")
    sha = hashlib.sha256(b"model-a").hexdigest()
    cache = ObjectCache(tmp_path / "cache")
    path, digest = fetch_url(f"{url}/models/iris.joblib", cache, None)
    assert digest == sha and path.read_bytes() == b"model-a" and path.suffix == ".joblib"
    assert fetch_url(f"{url}/models/iris.joblib", cache, sha.upper())[1] == sha
    with pytest.raises(ModelLoadError, match="refused"):
        fetch_url(f"{url}/models/iris.joblib", ObjectCache(tmp_path / "c2"), "1" * 64)


def test_an_unreachable_store_is_reported_as_unavailable(tmp_path: Path) -> None:
    with running_s3() as server:
        url = server.new_bucket() + "/app"
        store = replica(url, tmp_path / "cache")
        put(store, "a.model", b"model-a")
        with server.down():
            with pytest.raises(StoreUnavailableError, match="active-model record"):
                store.active_record()
            with pytest.raises(StoreUnavailableError):
                store.list()
        assert [f.name for f in store.list()] == ["a.model"]


def test_serve_a_model_by_url_and_manage_it_with_the_cli(s3: S3Server, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from drucker.cli import main
    from tests.conftest import ECHO_PLUGIN
    from tests.serving import ServeProcess, ThreadedServer

    url = s3.new_bucket()
    boto3.client("s3").put_object(Bucket=url[5:], Key="start/a.model", Body=b"echo-a\n")
    sha = hashlib.sha256(b"echo-a\n").hexdigest()
    settings = {"store_url": f"{url}/store", "management_token": "t", "store_follow_interval": 0.1}
    refused = ServeProcess(
        ["-p", ECHO_PLUGIN, "--model", f"{url}/start/a.model", "--model-sha256", "0" * 64],
        cwd=tmp_path,
        env={"DRUCKER_STORE_URL": f"{url}/store", "DRUCKER_SERVICE_PORT": "0"},
    )
    assert refused.wait(60) == 2
    assert "refused" in refused.stderr
    with ThreadedServer(ECHO_PLUGIN, f"{url}/start/a.model", settings, workdir=tmp_path) as server:
        from drucker.client import Client

        with Client(server.target, token="t") as client:
            assert client.service_info().model_sha256 == sha
        for name in ("b", "c"):
            (tmp_path / f"{name}.model").write_text(f"echo-{name}\n")

        def cli(*args: str) -> str:
            result = CliRunner().invoke(main, [*args, "--target", server.target, "--token", "t"])
            assert result.exit_code == 0, result.output
            return result.stdout

        for name in ("b", "c"):
            cli("model", "upload", str(tmp_path / f"{name}.model"))
            cli("model", "switch", f"{name}.model")
        assert "b.model is serving" in cli("model", "rollback")
        lines = cli("model", "history").splitlines()
        moves = [line.split("\t")[1] for line in lines]
        assert [(m.split(" (")[0], m.split("-> ")[1].split(" (")[0]) for m in moves] == [
            ("a.model", "b.model"),
            ("b.model", "c.model"),
            ("c.model", "b.model"),
        ]
        assert all("\tok\t" in line for line in lines)


def test_store_settings_are_checked(tmp_path: Path) -> None:
    from drucker.errors import ConfigurationError
    from drucker.settings import load_settings
    from drucker.store.backends import open_stores

    with pytest.raises(ConfigurationError, match="DRUCKER_STORE_URL: expected a URL"):
        load_settings(None, environ={"DRUCKER_STORE_URL": "/srv/models"})
    with pytest.raises(ConfigurationError, match="DRUCKER_STORE_FOLLOW_INTERVAL"):
        load_settings(None, environ={"DRUCKER_STORE_FOLLOW_INTERVAL": "0"})
    unknown = load_settings(None, environ={"DRUCKER_STORE_URL": "nosuch://bucket/models"})
    with pytest.raises(StoreUnavailableError, match="nosuch://bucket/models"):
        open_stores(unknown)
    shared = load_settings(
        None,
        environ={"DRUCKER_STORE_URL": f"file://{tmp_path}/shared"},
        overrides={"model_dir": str(tmp_path / "model")},
    )
    stores = open_stores(shared)
    assert stores.shared and stores.models.location.endswith("shared/drucker/models")
    assert shared.cache_dir == tmp_path / "model" / "drucker" / ".cache"


def test_evaluation_data_and_results_are_shared(
    s3: S3Server, tmp_path: Path, iris_model: Path
) -> None:
    """Data uploaded to one replica is evaluated by another; a third reads the result."""
    from tests.datasets import write_iris_csv
    from tests.management import evaluate, evaluation_result, upload_data
    from tests.serving import ThreadedServer

    settings = {"store_url": s3.new_bucket() + "/store", "management_token": "t"}
    data = write_iris_csv(tmp_path / "iris.csv", noise=0.6)
    servers = [
        ThreadedServer("drucker_sklearn", str(iris_model), settings, workdir=tmp_path / f"r{i}")
        for i in range(3)
    ]
    for server in servers:
        server.start()
    try:
        with servers[0].channel() as channel:
            assert upload_data(channel, "iris.csv", data, "t").status == 1
        with servers[1].channel() as channel:
            metrics = evaluate(channel, "iris.csv", "run1", "t").metrics
        with servers[2].channel() as channel:
            replies = evaluation_result(channel, "run1", "t")
        assert replies[0].metrics.num == metrics.num == 150
        assert sum(len(reply.detail) for reply in replies[1:]) == 150
        # A second evaluation under the same name replaces the result whole.
        with servers[2].channel() as channel:
            assert evaluate(channel, "iris.csv", "run1", "t").metrics.num == 150
        with servers[0].channel() as channel:
            replies = evaluation_result(channel, "run1", "t")
        assert sum(len(reply.detail) for reply in replies[1:]) == 150
    finally:
        for server in servers:
            server.stop()
    bucket = settings["store_url"][5:].split("/")[0]
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="store/drucker/results/")
    assert len([o for o in listed["Contents"] if o["Key"].endswith(".jsonl")]) == 1


def test_stored_results_are_listed_from_the_store(store_url: str, tmp_path: Path) -> None:
    results = RemoteResults(open_backend(store_url), tmp_path / "spool")
    assert results.summaries() == []
    results.write("run1", iter([{"label": "a"}]), lambda: {"num": 1})
    results.write("run2", iter([{"label": "b"}]), lambda: {"num": 2})
    listed = RemoteResults(open_backend(store_url), tmp_path / "other").summaries()
    assert sorted((r.name, r.summary["num"]) for r in listed) == [("run1", 1), ("run2", 2)]
    assert all(r.stored_at > 0 for r in listed)


@pytest.mark.parametrize("kind", ["s3", "file", "memory"])
def test_a_write_between_read_and_write_is_not_lost(
    kind: str, s3: S3Server, tmp_path: Path
) -> None:
    """Compare-and-set on each kind of backend (memory:// stands for one without conditional
    writes or locks, such as GCS through gcsfs): a record written by another writer after our
    read makes our write retry on top of it; on file:// the other writer waits for our lock."""
    urls = {
        "s3": s3.new_bucket() + "/cas",
        "file": f"file://{tmp_path}/cas",
        "memory": f"memory://cas-{tmp_path.name}",
    }
    backend = open_backend(urls[kind])
    path = backend.path("record.json")
    backend.update(path, lambda old: {"writes": ["first"]})

    def other_writer() -> None:
        other = open_backend(urls[kind])
        other.update(path, lambda current: {"writes": [*current["writes"], "other"]})

    intruder = threading.Thread(target=other_writer)

    def change(old: dict[str, list[str]]) -> dict[str, list[str]]:
        if not intruder.is_alive() and intruder.ident is None:
            intruder.start()  # gets in between our read and our write, where it can
            intruder.join(1.0 if kind == "file" else 30)  # on file:// it waits for our lock
        return {"writes": [*old["writes"], "ours"]}

    backend.update(path, change)
    intruder.join(30)
    expected = ["first", "ours", "other"] if kind == "file" else ["first", "other", "ours"]
    assert backend.read(path)[0] == {"writes": expected}


def test_delete_unindexes_a_name_but_never_the_active_one(store_url: str, tmp_path: Path) -> None:
    store = replica(store_url, tmp_path / "cache-1")
    other = replica(store_url, tmp_path / "cache-2")
    put(store, "old.model", b"old")
    put(store, "same.model", b"old")  # the same bytes under another name
    put(store, "serving.model", b"serving")
    store.set_active(store.get("serving.model"))
    with pytest.raises(InUseError):
        other.delete("serving.model")
    assert store.delete("old.model").name == "old.model"
    assert [f.name for f in other.list()] == ["same.model", "serving.model"]
    with pytest.raises(NotFoundError):
        other.delete("old.model")
    with other.checkout("same.model") as (_, path):  # the shared object is still there
        assert path.read_bytes() == b"old"


SPOOLING_WRITER = """
import sys
from pathlib import Path
from drucker.store.cache import ObjectCache
from drucker.store.remote import RemoteModelStore, open_backend
store = RemoteModelStore(open_backend(sys.argv[1]), ObjectCache(Path(sys.argv[2])))
upload = store.begin("crashed.model", 1 << 30)
upload.write(b"m" * (8 << 20))
print("spooling", flush=True)
sys.stdin.read()
"""


def test_the_spool_of_a_killed_upload_is_swept_at_start(
    store_url: str, s3: S3Server, tmp_path: Path
) -> None:
    """kill -9 mid-upload leaves its spooled bytes; the next start removes them (found by the
    writer's lock, so a live upload of another process sharing the cache stays)."""
    cache = tmp_path / "cache"
    spool = cache / "spool"
    writer = subprocess.Popen(
        [sys.executable, "-c", SPOOLING_WRITER, store_url, str(cache)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, **s3.env},
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"spooling\n"
    finally:
        writer.kill()  # SIGKILL: no cleanup of any kind runs
        writer.wait()
    assert [p.stat().st_size for p in spool.iterdir()] == [8 << 20]  # what the crash leaves
    live = replica(store_url, cache).begin("live.model", 1 << 20)
    live.write(b"still coming")
    store = replica(store_url, cache)  # a restart on the same cache
    assert [p.name for p in spool.iterdir()] == [live._path.name]
    assert live.commit().size == len(b"still coming")
    assert list(spool.iterdir()) == []
    assert [stored.name for stored in store.list()] == ["live.model"]
