"""drucker's import graph, read from the source with ``ast`` (nothing is imported or run).

An edge is one import statement: ``import a.b`` points at ``a.b``; ``from a import b`` at
``a`` (whose ``__init__`` it reads) and at the module ``a.b`` when there is one. A module of a
package that imports from the package itself is then in a cycle with it: such modules import
their siblings by their full names. Imports under ``if TYPE_CHECKING:`` are left out unless
asked for (they never run, but mypy reads them). Each edge says whether it runs when its
module is imported (module level, class bodies included) or only when a function is called
(a lazy import).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import attrs

from tests.conftest import REPO


@attrs.frozen
class Edge:
    """One import: ``source`` imports ``target`` (a module of drucker, or a distribution's
    top-level name), at import time unless ``lazy``."""

    source: str
    target: str
    line: int
    lazy: bool


@functools.cache
def module_names(root: Path = REPO) -> dict[str, Path]:
    """Every module of the ``drucker`` package under ``root``, by dotted name."""
    names = {}
    for path in sorted((root / "drucker").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


@functools.cache
def _trees(root: Path) -> dict[str, ast.Module]:
    """Each module's syntax tree, parsed once."""
    return {
        module: ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for module, path in module_names(root).items()
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(
    node: ast.AST, lazy: bool, typing: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """The import statements below ``node``; ``if TYPE_CHECKING:`` bodies only with ``typing``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, lazy
        elif isinstance(child, ast.If) and _is_type_checking(child.test) and not typing:
            for branch in child.orelse:
                yield from _imports(ast.Module(body=[branch], type_ignores=[]), lazy, typing)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _imports(child, True, typing)
        else:
            yield from _imports(child, lazy, typing)


def _targets(
    statement: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict[str, Path]
) -> Iterator[str]:
    if isinstance(statement, ast.Import):
        for alias in statement.names:
            yield alias.name if alias.name in modules else alias.name.split(".")[0]
        return
    base = statement.module or ""
    if statement.level:
        package = module.split(".")
        package = package[: len(package) - statement.level + (1 if is_package else 0)]
        base = ".".join([*package, base] if base else package)
    if base not in modules:
        yield base.split(".")[0]
        return
    yield base  # the statement names it: its ``__init__`` runs and its namespace is read
    for alias in statement.names:
        if f"{base}.{alias.name}" in modules:
            yield f"{base}.{alias.name}"


def edges(root: Path = REPO, *, typing: bool = False) -> tuple[Edge, ...]:
    """Every import of every module of drucker under ``root`` (with ``typing``, those under
    ``if TYPE_CHECKING:`` too)."""
    return _edges(root, typing)


@functools.cache
def _edges(root: Path, typing: bool) -> tuple[Edge, ...]:
    modules = module_names(root)
    found = []
    for module, tree in _trees(root).items():
        path = modules[module]
        for statement, lazy in _imports(tree, lazy=False, typing=typing):
            for target in _targets(statement, module, path.name == "__init__.py", modules):
                if target != module:
                    found.append(Edge(module, target, statement.lineno, lazy))
    return tuple(found)


def loaded_by(start: str, root: Path = REPO) -> set[str]:
    """What ``import start`` loads: its module-level imports, followed through drucker, and
    the packages above each module reached (their ``__init__`` runs first)."""
    modules = module_names(root)
    eager: dict[str, set[str]] = {}
    for edge in edges(root):
        if not edge.lazy:
            eager.setdefault(edge.source, set()).add(edge.target)
    loaded: set[str] = set()
    waiting = [start]
    while waiting:
        name = waiting.pop()
        if name in loaded:
            continue
        loaded.add(name)
        if name in modules:
            parts = name.split(".")
            waiting.extend(".".join(parts[:end]) for end in range(1, len(parts)))
            waiting.extend(eager.get(name, ()))
    return loaded


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module, each as one closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for after in sorted(graph.get(node, ())):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            group.append(node)
            if len(group) > 1:
                groups.append(_closed_path(graph, set(group)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _closed_path(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for after in sorted(graph.get(node, set()) & group):
                if after == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if after not in came_from:
                    came_from[after] = node
                    following.append(after)
        frontier = following
    return sorted(group)
