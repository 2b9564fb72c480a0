"""A server of the version-probe plugin with several stored versions, for the traffic tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

from drucker._wire import drucker_pb2, drucker_pb2_grpc
from drucker.client import Client
from tests.conftest import REPO
from tests.serving import ThreadedServer

PROBE_PLUGIN = str(REPO / "tests" / "plugins" / "version_probe.py")
BATCH_PROBE_PLUGIN = str(REPO / "tests" / "plugins" / "version_probe_batch.py")
TOKEN = "traffic-test-token"
# version name -> model file text (the probe answers the first word)
VERSIONS = {"v1": "A", "v2": "B", "v3": "C", "same": "A", "flaky": "F fail-half"}


@contextmanager
def probe_server(
    workdir: Path,
    settings: dict[str, Any] | None = None,
    http: bool = False,
    models: dict[str, str] | None = None,
    plugin: str = PROBE_PLUGIN,
) -> Iterator[tuple[ThreadedServer, Client]]:
    """A started server serving ``v1`` (label A) with every one of :data:`VERSIONS` stored;
    ``models`` adds models by name, each serving the version file named."""
    files = workdir / "files"
    files.mkdir(parents=True, exist_ok=True)
    for name, text in VERSIONS.items():
        (files / name).write_text(text + "\n")
    server = ThreadedServer(
        plugin,
        str(files / "v1"),
        {"management_token": TOKEN, **(settings or {})},
        workdir=workdir,
        http=http,
        models={name: str(files / version) for name, version in (models or {}).items()},
    )
    with server, Client(server.target, token=TOKEN, timeout=30) as client:
        for name in VERSIONS:
            if name != "v1":
                client.upload_model(files / name, name)
        yield server, client


def predict_version(
    channel: grpc.Channel, value: str, key: str | None = None, model: str | None = None
) -> tuple[str, str]:
    """(label, x-drucker-version) of one Predict_String_String call (to ``model``: the
    default one without it)."""
    stub = drucker_pb2_grpc.DruckerWorkerStub(channel)
    metadata = [("x-drucker-route-key", key)] if key is not None else []
    if model is not None:
        metadata.append(("x-rekcurd-application-name", model))
    reply, call = stub.Predict_String_String.with_call(
        drucker_pb2.StringInput(input=value), metadata=metadata, timeout=10
    )
    trailing = dict(call.trailing_metadata() or ())
    return reply.output, trailing.get("x-drucker-version", "")
