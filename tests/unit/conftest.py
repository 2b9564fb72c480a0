"""The unit layer: no subprocess, no network, no Docker.

Each test here runs with process creation and inet sockets refused, so a test that needs a
server or a subprocess fails at once and belongs in ``tests/wire`` or ``tests/system``.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest


class _NotInTheUnitLayer(RuntimeError):
    """A unit test reached for a subprocess or the network."""


def _refuse(what: str) -> Any:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise _NotInTheUnitLayer(f"unit tests may not use {what}; move the test to tests/wire")

    return refused


@pytest.fixture(autouse=True)
def _no_processes_or_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_socket = socket.socket

    class UnitSocket(real_socket):  # type: ignore[misc]
        def __init__(self, family: int = -1, *args: Any, **kwargs: Any) -> None:
            if family in (socket.AF_INET, socket.AF_INET6):
                raise _NotInTheUnitLayer("unit tests may not open inet sockets")
            super().__init__(family, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", UnitSocket)
    monkeypatch.setattr(subprocess, "Popen", _refuse("subprocesses"))
    yield
