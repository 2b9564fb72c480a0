"""A switch is persisted before it serves, and an upload of the same name cannot slip between
loading a model and recording it (hardening items 7 and 11), on the local store."""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

import drucker
from drucker import PredictResult
from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker.kinds import Kind
from tests.calls import call
from tests.management import auth, service_info, switch_model, upload_model
from tests.polling import wait_for
from tests.serving import ThreadedServer

TOKEN = "consistency-token"


class LoadWatcher:
    """A model plugin (the model is the file's text) that calls ``on_load(text)`` while a model
    is being loaded, so a test can act at exactly that moment."""

    def __init__(self) -> None:
        self.on_load: Callable[[str], None] | None = None

    @drucker.hookimpl
    def drucker_load_model(self, model_path: str) -> str:
        text = Path(model_path).read_text(encoding="utf-8")
        if self.on_load is not None:
            self.on_load(text)
        return text

    @drucker.hookimpl
    def drucker_predict(self, model: str, input: Any, option: dict[str, Any]) -> PredictResult:
        return PredictResult(label=model, score=1.0)


def start(workdir: Path) -> tuple[ThreadedServer, LoadWatcher]:
    """A server in ``workdir`` that starts on ``a.model`` (the text "model-a")."""
    model = workdir / "a.model"
    model.write_text("model-a")
    plugin = LoadWatcher()
    server = ThreadedServer(plugin, str(model), {"management_token": TOKEN}, workdir=workdir)
    return server.start(), plugin


@contextmanager
def started(workdir: Path) -> Iterator[tuple[ThreadedServer, LoadWatcher, grpc.Channel]]:
    """The server of `start` and a channel to it, both closed on leaving."""
    server, plugin = start(workdir)
    try:
        with server.channel() as channel:
            yield server, plugin, channel
    finally:
        server.stop()


def serving(server: ThreadedServer) -> str:
    with server.channel() as channel:
        return str(call(channel, Kind.STRING, Kind.STRING, "x").label)


def served_after_a_restart(workdir: Path) -> str:
    """What a new server on the same store serves (the persisted choice)."""
    restarted, _ = start(workdir)
    try:
        return serving(restarted)
    finally:
        restarted.stop()


def test_a_switch_that_cannot_be_persisted_leaves_the_old_model(tmp_path: Path) -> None:
    store = tmp_path / "model" / "drucker"
    with started(tmp_path) as (server, plugin, channel):
        assert upload_model(channel, "b.model", b"model-b", TOKEN).status == 1

        def break_the_store(text: str) -> None:
            # While b loads, the store becomes unwritable: its lock file is now a directory.
            if text == "model-b":
                (store / ".lock").unlink()
                (store / ".lock").mkdir()

        plugin.on_load = break_the_store
        reply = switch_model(channel, "b.model", TOKEN)
        assert reply.status == 0, reply.message
        assert "cannot record the active model" in reply.message
        assert serving(server) == "model-a"
        assert service_info(channel).model_name == "a.model"
    (store / ".lock").rmdir()
    assert served_after_a_restart(tmp_path) == "model-a"


def test_an_upload_during_a_switch_of_the_same_name_is_never_half_seen(tmp_path: Path) -> None:
    with started(tmp_path) as (server, plugin, channel):
        assert upload_model(channel, "x.model", b"model-x1", TOKEN).status == 1

        def upload_over_it(text: str) -> None:
            # x1 is loaded; before the switch completes, x.model gets other bytes.
            if text == "model-x1":
                with server.channel() as other:
                    reply = upload_model(other, "x.model", b"model-x2", TOKEN)
                    assert reply.status == 1, reply.message

        plugin.on_load = upload_over_it
        reply = switch_model(channel, "x.model", TOKEN)
        info = service_info(channel)
        served = serving(server)
        assert hashlib.sha256(served.encode()).hexdigest() == info.model_sha256 or (
            served == "model-a" and info.model_name == "a.model"
        )
        assert reply.status == 0 and "replaced by an upload" in reply.message
        plugin.on_load = None
        assert switch_model(channel, "x.model", TOKEN).status == 1
        info = service_info(channel)
        assert serving(server) == "model-x2"
        assert info.model_sha256 == hashlib.sha256(b"model-x2").hexdigest()
    assert served_after_a_restart(tmp_path) == "model-x2"


def test_rollback_and_history_on_the_local_store(tmp_path: Path) -> None:
    with started(tmp_path) as (server, _, channel):
        for name in ("b.model", "c.model"):
            upload_model(channel, name, name.encode(), TOKEN)
            assert switch_model(channel, name, TOKEN).status == 1
        assert switch_model(channel, "missing.model", TOKEN).status == 0
        from drucker.client import Client, ManagementError

        with Client(server.target, token=TOKEN) as client:
            assert "b.model is serving" in client.rollback_model()
            history = client.model_history()
            assert serving(server) == "b.model"
            # a second rollback steps further back, not forward to c.model again
            assert "a.model is serving" in client.rollback_model()
            assert serving(server) == "model-a"
            with pytest.raises(ManagementError, match="no earlier model"):
                client.rollback_model()
            assert serving(server) == "model-a"
        assert [(h.from_name, h.to_name, h.ok) for h in history] == [
            ("a.model", "b.model", True),
            ("b.model", "c.model", True),
            ("c.model", "missing.model", False),
            ("c.model", "b.model", True),
        ]
        assert history[-1].by.startswith("rollback for ")
        assert history[-1].rollback and not any(h.rollback for h in history[:-1])
        # Who switched, as an address people write (not gRPC's ``ipv4:`` / ``%5B`` form).
        assert re.fullmatch(r"(127\.0\.0\.1|\[::1\]):\d+ via .+", history[0].by), history[0].by
    shutil.rmtree(tmp_path / "model")


def test_a_switch_past_the_callers_deadline_is_abandoned_not_applied_later(
    tmp_path: Path,
) -> None:
    release = threading.Event()
    with started(tmp_path) as (server, plugin, channel):
        try:
            assert upload_model(channel, "b.model", b"model-b", TOKEN).status == 1
            plugin.on_load = lambda text: release.wait(30) if text == "model-b" else None
            stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.SwitchModel(
                    drucker_pb2.SwitchModelRequest(path="b.model"), metadata=auth(TOKEN), timeout=1
                )
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            wait_for(lambda: "has gone" in server.log.getvalue(), "the server sees it gone", 10)
            release.set()  # the load finishes after the caller has gone

            from drucker.client import Client

            with Client(server.target, token=TOKEN) as client:
                wait_for(lambda: len(client.model_history()) == 1, "the switch in the history", 10)
                (event,) = client.model_history()
            assert not event.ok and "deadline passed" in event.result
            assert serving(server) == "model-a"
        finally:
            release.set()  # before the server stops, which waits for the load
    assert served_after_a_restart(tmp_path) == "model-a"
