"""The registry of loaded models, keyed by model name and version (a one-model server is N = 1)."""

from __future__ import annotations

from drucker.registry import ActiveModel, ModelRegistry


def loaded(version: str) -> ActiveModel:
    return ActiveModel(model=object(), name=version, path=None)


def test_versions_are_held_by_name_and_version() -> None:
    registry = ModelRegistry()
    a, b = loaded("a"), loaded("b")
    registry.put("m", a)
    registry.put("m", b)
    registry.put("other", loaded("a"))
    assert registry.get("m", "a") is a and registry.get("m", "b") is b
    assert registry.get("m", "c") is None
    assert sorted(registry.versions("m")) == ["a", "b"]
    assert registry.serving("m") is None  # loaded is not serving


def test_serve_is_one_reference_change_and_returns_the_replaced_version() -> None:
    registry = ModelRegistry()
    a, b = loaded("a"), loaded("b")
    assert registry.serve("m", a) is None
    assert registry.serving("m") is a
    assert registry.serve("m", b) is a
    assert registry.serving("m") is b
    assert registry.get("m", "a") is a  # still loaded until removed
    assert registry.serve("m", b) is None  # serving it again replaces nothing
    assert registry.names() == ["m"]


def test_removing_the_serving_version_stops_it_serving() -> None:
    registry = ModelRegistry()
    a = loaded("a")
    registry.serve("m", a)
    assert registry.remove("m", "a") is a
    assert registry.serving("m") is None and registry.get("m", "a") is None
    assert registry.remove("m", "a") is None
