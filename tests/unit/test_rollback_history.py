"""Which model a rollback returns to, replayed from the switch history (a stack)."""

from __future__ import annotations

import attrs

from drucker.store.base import ActiveRecord, SwitchEvent
from drucker.store.history import event_from_json, event_to_json, previous_model


def switch(old: str, new: str, *, rollback: bool = False, ok: bool = True) -> SwitchEvent:
    return SwitchEvent(
        at=0.0,
        to_name=new,
        to_sha256=f"sha-{new}",
        from_name=old,
        from_sha256=f"sha-{old}",
        by="rollback" if rollback else "someone",
        result="ok" if ok else "failed: broken",
        rollback=rollback,
    )


def serving(name: str) -> ActiveRecord:
    return ActiveRecord(name=name, sha256=f"sha-{name}")


def back_to(events: list[SwitchEvent], current: str) -> str | None:
    event = previous_model(events, serving(current))
    return None if event is None else event.from_name


def test_each_rollback_steps_further_back() -> None:
    history = [switch("a", "b"), switch("b", "c"), switch("c", "broken", ok=False)]
    assert back_to(history, "c") == "b"
    history.append(switch("c", "b", rollback=True))
    assert back_to(history, "b") == "a"
    history.append(switch("b", "a", rollback=True))
    assert back_to(history, "a") is None


def test_a_switch_after_a_rollback_is_undone_to_where_the_rollback_left() -> None:
    history = [switch("a", "b"), switch("b", "a", rollback=True), switch("a", "c")]
    assert back_to(history, "c") == "a"


def test_no_rollback_when_the_store_serves_another_model_than_the_history_ends_on() -> None:
    assert back_to([switch("a", "b")], "x") is None


def test_histories_written_before_the_flag_mark_rollbacks_in_by() -> None:
    legacy = attrs.evolve(switch("c", "b"), by="rollback for 127.0.0.1:5 via host")
    text = event_to_json(legacy).replace(b', "rollback": false', b"")
    assert b'rollback": ' not in text
    parsed = event_from_json(text)
    assert parsed is not None and not parsed.rollback
    assert back_to([switch("a", "b"), switch("b", "c"), parsed], "b") == "a"
