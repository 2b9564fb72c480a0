"""The service's switch history merged with the dashboard's records (issue 27.13)."""

from __future__ import annotations

from drucker.client import ModelSwitch
from drucker.dashboard.history import merged_history, rollback_target
from drucker.dashboard.models import Switch


def entry(
    at: float, old: str, new: str, by: str = "10.0.0.9:1 via host", rollback: bool = False
) -> ModelSwitch:
    return ModelSwitch(at, new, "sha", old, "sha", by, "ok", rollback)


def record(at: float, old: str, new: str, user: str, rollback: bool = False) -> Switch:
    return Switch(from_model=old, to_model=new, is_rollback=rollback, ok=True, user=user, at=at)


def test_the_service_history_is_the_truth_named_by_the_dashboard_where_it_acted() -> None:
    service = [
        entry(100, "a", "b"),
        entry(200, "b", "c"),
        entry(300, "c", "b", by="rollback for x", rollback=True),
    ]
    dashboard = [record(201, "b", "c", "ada"), record(999, "c", "d", "bob")]
    rows = merged_history(service, dashboard)
    assert [(r.to_model, r.user, r.source) for r in rows] == [
        ("d", "bob", "dashboard"),  # the service never got it
        ("b", "rollback for x", "service"),
        ("c", "ada", "both"),
        ("b", "10.0.0.9:1 via host", "service"),  # made with the CLI: in the service's history
    ]
    assert rows[1].is_rollback and not rows[2].is_rollback


def test_the_rollback_target_steps_back_through_the_merged_history() -> None:
    rows = merged_history([entry(100, "a", "b"), entry(200, "b", "c")], [])
    assert rollback_target(rows) == "b"
    rows = merged_history(
        [
            entry(100, "a", "b"),
            entry(200, "b", "c"),
            entry(300, "c", "b", by="rollback for x", rollback=True),
        ],
        [],
    )
    assert rollback_target(rows) == "a"
