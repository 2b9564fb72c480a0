"""Shared fixtures: example models and real servers on loopback ports.

In CI (``CI=true``) every test must run: a skipped test (no Docker engine, a missing
third-party client, no grpcio-tools) fails the run instead of passing it silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings as hypothesis_settings

if TYPE_CHECKING:
    from tests.serving import ThreadedServer

REPO = Path(__file__).resolve().parent.parent
ECHO_PLUGIN = str(REPO / "tests" / "plugins" / "echo_plugin.py")
IN_CI = os.environ.get("CI") == "true"

# CI replays one fixed set of Hypothesis cases per test (a red CI must mean a change broke
# something); locally every run explores new cases.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if IN_CI:
    hypothesis_settings.load_profile("ci")


def _fail_skips_in_ci(report: Any) -> None:
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    _fail_skips_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome: Any = yield
    _fail_skips_in_ci(outcome.get_result())


@pytest.fixture(scope="session")
def iris_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A logistic-regression iris model saved with joblib (labels are species names)."""
    from drucker_sklearn.demo import train_iris

    return train_iris(tmp_path_factory.mktemp("iris") / "iris.joblib")


@pytest.fixture(scope="session")
def echo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 'model file' of the echo test plugin: a text file with the model's name."""
    path = tmp_path_factory.mktemp("echo") / "echo-a.model"
    path.write_text("echo-a\n")
    return path


@pytest.fixture(scope="module")
def echo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    """A running server with the echo plugin."""
    model = tmp_path_factory.mktemp("echo-server") / "echo.model"
    model.write_text("echo-a\n")
    from tests.serving import ThreadedServer

    with ThreadedServer(ECHO_PLUGIN, str(model)) as server:
        yield server


@pytest.fixture(scope="module")
def iris_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    """A running server with the scikit-learn plugin and the iris model."""
    from drucker_sklearn.demo import train_iris

    from tests.serving import ThreadedServer

    model = train_iris(tmp_path_factory.mktemp("iris-server") / "iris.joblib")
    with ThreadedServer("drucker_sklearn", str(model)) as server:
        yield server
