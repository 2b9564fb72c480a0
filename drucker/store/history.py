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
    """The switch whose ``from`` is the model a rollback of ``current`` returns to, or ``None``.

    The successful switches are replayed as a stack: a switch pushes its model, a rollback pops
    one, so a second rollback goes further back instead of forward to where the first left.
    """
    stack: list[SwitchEvent] = []  # each entry: the switch that made its ``to`` serve
    for event in events:
        if event.result != "ok" or event.traffic:  # a traffic policy change is no switch
            continue
        if _is_rollback(event) and stack:
            stack.pop()
            if stack and _target(stack[-1]) == _target(event):
                continue
        stack.append(event)
    if not stack or (current is not None and _target(stack[-1]) != (current.name, current.sha256)):
        return None
    top = stack[-1]
    if len(stack) > 1:
        return _back_to(top, stack[-2])
    return top if top.from_name and top.from_sha256 and not _is_rollback(top) else None


def _target(event: SwitchEvent) -> tuple[str | None, str | None]:
    return event.to_name, event.to_sha256


def _is_rollback(event: SwitchEvent) -> bool:
    # histories written before the flag existed mark rollbacks only in "by"
    return event.rollback or event.by.startswith("rollback")


def _back_to(top: SwitchEvent, below: SwitchEvent) -> SwitchEvent:
    """``top`` with ``from`` naming the model of the entry below it on the stack."""
    return attrs.evolve(top, from_name=below.to_name, from_sha256=below.to_sha256)


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
