"""A service's switch history as the dashboard shows it: the service's own history (the truth:
switches made with the CLI, the SDK or another dashboard are in it) merged with the dashboard's
records, which say which dashboard user made a change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

from drucker.client import ModelSwitch
from drucker.dashboard.models import Switch

SAME_SWITCH_SECONDS = 120.0  # a dashboard record this close to a service entry is that entry


@attrs.frozen
class HistoryRow:
    """One switch, newest first in a history."""

    at: float
    user: str  # the dashboard user, else who the service says switched
    from_model: str
    to_model: str
    is_rollback: bool
    ok: bool
    source: str  # "service", "dashboard" (not in the service's history) or "both"
    traffic: str = ""  # a traffic policy change ("split v1=90 v2=10"), not a switch


def merged_history(service: list[ModelSwitch], dashboard: list[Switch]) -> list[HistoryRow]:
    """The service's entries, each named after the dashboard record that made it (when one
    did), and the dashboard records the service does not know (e.g. a switch that never reached
    it), newest first."""
    unmatched = list(dashboard)
    rows: list[HistoryRow] = []
    for entry in sorted(service, key=lambda e: e.at, reverse=True):
        if entry.traffic:  # a policy change: the dashboard keeps no record of its own
            rows.append(
                HistoryRow(
                    entry.at, entry.by, "", "", False, entry.ok, "service", traffic=entry.traffic
                )
            )
            continue
        record = _record_of(entry, unmatched)
        if record is not None:
            unmatched.remove(record)
        rollback = entry.rollback or (record is not None and record.is_rollback)
        rows.append(
            HistoryRow(
                at=entry.at,
                user=record.user if record is not None else entry.by,
                from_model=entry.from_name,
                to_model=entry.to_name,
                is_rollback=rollback,
                ok=entry.ok,
                source="both" if record is not None else "service",
            )
        )
    for record in unmatched:
        rows.append(
            HistoryRow(
                record.at,
                record.user,
                record.from_model,
                record.to_model,
                record.is_rollback,
                record.ok,
                "dashboard",
            )
        )
    return sorted(rows, key=lambda row: row.at, reverse=True)


def _record_of(entry: ModelSwitch, records: list[Switch]) -> Switch | None:
    """The dashboard record of the same switch: same target and outcome, close in time."""
    close = [
        record
        for record in records
        if record.to_model == entry.to_name
        and record.ok == entry.ok
        and abs(record.at - entry.at) <= SAME_SWITCH_SECONDS
    ]
    return min(close, key=lambda record: abs(record.at - entry.at), default=None)


class _Step(Protocol):
    """A history entry as a rollback reads it (a :class:`HistoryRow` or a dashboard record)."""

    @property
    def ok(self) -> bool: ...

    @property
    def is_rollback(self) -> bool: ...

    @property
    def from_model(self) -> str: ...


def rollback_target(rows: Sequence[_Step]) -> str | None:
    """The model a rollback returns to (newest first): each rollback undoes the newest switch
    not undone yet, as the service's own rollback does."""
    undone = 0
    for row in rows:
        if not row.ok or (isinstance(row, HistoryRow) and row.traffic):  # policy: no switch
            continue
        if row.is_rollback:
            undone += 1
        elif undone:
            undone -= 1
        else:
            return row.from_model or None
    return None
