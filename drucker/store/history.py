"""The switch history as data: one JSON object per switch, oldest first."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs

from drucker.store.base import ActiveRecord, SwitchEvent


def event_to_json(event: SwitchEvent) -> bytes:
    """One event as a compact JSON text (UTF-8)."""
    return json.dumps(attrs.asdict(event), sort_keys=True).encode()


def event_from_json(text: bytes | str) -> SwitchEvent | None:
    """The event in ``text``, or ``None`` for a line that is not one (e.g. cut off by a crash)."""
    try:
        data: Any = json.loads(text)
        return SwitchEvent(**data)
    except (ValueError, TypeError):
        return None


def previous_model(events: list[SwitchEvent], current: ActiveRecord | None) -> SwitchEvent | None:
    """The latest successful switch to the ``current`` record, whose ``from`` is the model a
    rollback returns to; ``None`` when there is no earlier model."""
    for event in reversed(events):
        if event.result != "ok":
            continue
        if current is None or (event.to_name, event.to_sha256) == (current.name, current.sha256):
            return event if event.from_name and event.from_sha256 else None
    return None


class HistoryFile:
    """The history of a local store: a JSON-lines file, appended one line per switch."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, event: SwitchEvent) -> None:
        """Add ``event`` durably (one ``write`` of one line to a file opened for appending)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, event_to_json(event) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[SwitchEvent]:
        """Every readable event, oldest first."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        return [event for line in lines if (event := event_from_json(line)) is not None]
