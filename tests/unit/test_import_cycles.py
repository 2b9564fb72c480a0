"""No import cycle inside drucker/: the arrows between its modules point one way.

The graph is read from the source (:mod:`tests.import_graph`): module-level and function-level
imports count (a lazy import is still an arrow), and so, in the second test, do the imports
under ``if TYPE_CHECKING:`` (mypy follows them; two modules that only type each other are
still tangled).
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from tests import import_graph

# Cycles left to another branch: the dashboard is being rewritten there (issue 22.3), and
# drucker.dashboard.app imports from the package whose __init__ imports it. Drop the entry
# when that branch cuts it.
ELSEWHERE: tuple[str, ...] = ()


def _internal_graph(edges: Iterable[import_graph.Edge]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if edge.target == "drucker" or edge.target.startswith("drucker."):
            graph.setdefault(edge.source, set()).add(edge.target)
    return graph


def _ours(cycle: list[str]) -> bool:
    return not all(
        any(module == home or module.startswith(home + ".") for home in ELSEWHERE)
        for module in cycle
    )


@pytest.mark.parametrize("typing", [False, True], ids=["run-time imports", "with TYPE_CHECKING"])
def test_no_import_cycle_inside_drucker(typing: bool) -> None:
    graph = _internal_graph(import_graph.edges(typing=typing))
    found = [" -> ".join(cycle) for cycle in import_graph.cycles(graph) if _ours(cycle)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_a_cycle_is_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert import_graph.cycles(graph) == [["a", "b", "c", "a"]]


def test_a_package_importing_from_itself_is_a_cycle() -> None:
    edges = import_graph.edges()
    client = {(edge.source, edge.target) for edge in edges if edge.source.startswith("drucker.")}
    assert ("drucker.client", "drucker.client._sync") in client
    # the client's modules import their siblings by full name, never from the package
    assert not any(
        source.startswith("drucker.client.") and target == "drucker.client"
        for source, target in client
    )
