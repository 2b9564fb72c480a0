"""The dashboard's traffic API against a real dashboard process and a real `drucker serve` with
three stored versions of the iris model: who may do what, refusals with the service's reason
and the old policy standing, guards, the shadow sample as CSV, the audit."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("schemathesis")

import httpx
import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from drucker.client import Client
from tests.dashboard_api_support import DashboardApi
from tests.dashboard_support import TOKEN, DashboardProcess, iris_service

TREE, STUMP = "iris-tree.joblib", "iris-stump.joblib"


class Setup:
    def __init__(self, root: Path, iris_model: Path) -> None:
        self.service, self.port = iris_service(root / "svc", iris_model, "iris-t", "production")
        self.address = f"127.0.0.1:{self.port}"
        self.dashboard = DashboardProcess(root / "dashboard")
        self.tokens: dict[str, str] = {}
        try:
            self._start(root)
        except BaseException:
            self.close()
            raise

    def _start(self, root: Path) -> None:
        self.service.wait_serving(self.port)
        self.dashboard.wait_ready()
        iris = load_iris()
        with self.client() as client:
            for name, depth in ((TREE, 2), (STUMP, 1)):
                model = DecisionTreeClassifier(max_depth=depth, random_state=0)
                model.fit(iris.data, iris.target_names[iris.target])
                joblib.dump(model, root / name)
                client.upload_model(root / name, name)
        self.api = DashboardApi(self.dashboard, timeout=120)
        self.call, self.tokens = self.api.call, self.api.tokens
        service_id = self.api.register(self.address)
        self.base = f"/services/{service_id}/traffic/iris"

    def client(self) -> Client:
        return Client(self.address, token=TOKEN)

    def close(self) -> None:
        self.dashboard.stop()
        self.service.kill()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[Setup]:
    running = Setup(tmp_path_factory.mktemp("dashboard-traffic-api"), iris_model)
    yield running
    running.close()


def test_viewers_read_editors_change_and_nobody_unsigned(setup: Setup) -> None:
    split = {"weights": {"iris.joblib": 80, TREE: 20}}
    assert setup.call(None, "GET", setup.base).status_code == 401
    assert setup.call("viewer", "PUT", setup.base + "/split", json=split).status_code == 403
    read = setup.call("viewer", "GET", setup.base)
    assert read.status_code == 200, read.text
    assert read.json()["serving"] == "iris.joblib" and read.json()["split"] == {}
    changed = setup.call("editor", "PUT", setup.base + "/split", json=split)
    assert changed.status_code == 200, changed.text
    assert changed.json()["split"] == {"iris.joblib": 80.0, TREE: 20.0}
    assert changed.json()["summary"] == f"split iris.joblib=80 {TREE}=20"
    with setup.client() as client:
        assert client.traffic().split == {"iris.joblib": 80.0, TREE: 20.0}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("PUT", "/split", {"weights": {"iris.joblib": 80, TREE: 10}}, 422, "100"),
        ("PUT", "/split", {"weights": {"iris.joblib": 80, "nope.joblib": 20}}, 404, "nope"),
        ("PUT", "/split", {"weights": {"iris.joblib": -20, TREE: 120}}, 422, "greater"),
        ("PUT", "/shadow", {"version": TREE, "fraction": 0.5}, 422, TREE),  # in the split
        ("PUT", "/shadow", {"version": STUMP, "fraction": 1.5}, 422, "less than or equal"),
        ("PUT", f"/guards/{STUMP}", {"window": 10}, 422, "max_error_rate"),
        ("POST", "/promote", {"version": TREE}, 409, "confirm"),  # production
    ],
)
def test_bad_input_is_refused_and_the_policy_stands(
    setup: Setup, method: str, path: str, body: dict[str, Any], status: int, words: str
) -> None:
    with setup.client() as client:
        client.set_split({"iris.joblib": 80, TREE: 20})
        before = client.traffic()
    refused = setup.call("editor", method, setup.base + path, json=body)
    assert refused.status_code == status, refused.text
    assert words in refused.text
    with setup.client() as client:
        after = client.traffic()
    assert (after.split, after.shadow_version, after.serving) == (
        before.split,
        before.shadow_version,
        before.serving,
    )


def test_shadow_guard_sample_promote_and_the_audit(setup: Setup) -> None:
    assert setup.call("editor", "DELETE", setup.base).status_code == 200
    shadow = setup.call(
        "editor", "PUT", setup.base + "/shadow", json={"version": STUMP, "fraction": 1}
    )
    assert shadow.status_code == 200, shadow.text
    guard = {"min_agreement": 0.05, "window": 1000}
    guarded = setup.call("editor", "PUT", f"{setup.base}/guards/{STUMP}", json=guard)
    assert guarded.status_code == 200, guarded.text
    assert guarded.json()["guards"][0]["min_agreement"] == 0.05
    inputs = load_iris().data.astype(np.float32)
    with setup.client() as client:
        for row in inputs[::5]:
            client.infer(row[None, :])
    figures = setup.call("viewer", "GET", setup.base).json()["shadow"]
    assert (
        figures["total"]
        == figures["agree"] + figures["disagree"] + figures["shadow_error"] + figures["dropped"]
    )
    sample = setup.call("viewer", "GET", setup.base + "/sample.csv")
    assert sample.status_code == 200 and sample.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(sample.text)))
    assert rows and {r["shadow_version"] for r in rows} == {STUMP}
    assert {r["outcome"] for r in rows} <= {"agree", "disagree", "shadow_error"}
    removed = setup.call("editor", "DELETE", f"{setup.base}/guards/{STUMP}")
    assert removed.status_code == 200 and removed.json()["guards"] == []
    promoted = setup.call(
        "editor", "POST", setup.base + "/promote", json={"version": TREE, "confirm": True}
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["serving"] == TREE and promoted.json()["shadow_version"] == ""
    audit = setup.call("viewer", "GET", "/audit?application=iris").json()
    actions = [entry["action"] for entry in audit]
    for action in ("traffic promote", "traffic guard off", "traffic guard", "traffic shadow"):
        assert action in actions, actions
    refusals = [e for e in audit if not e["ok"]]
    assert refusals and all(e["action"].startswith("traffic") for e in refusals)
    promote = next(e for e in audit if e["action"] == "traffic promote")
    assert promote["after"] == f"{TREE} serves all" and STUMP in promote["before"]
    switches = setup.call("viewer", "GET", setup.base.replace("/traffic/iris", "/switches"))
    assert any(s["to_model"] == TREE and s["user"] == "editor" for s in switches.json())


def test_each_model_of_a_server_of_several_has_its_own_panel_and_policy(
    setup: Setup, tmp_path: Path
) -> None:
    from tests.conftest import ECHO_PLUGIN
    from tests.serving import ServeProcess, free_port

    for name in ("red", "red-b", "blue"):
        (tmp_path / f"{name}.model").write_text(f"model-{name}\n")
    port = free_port()
    args = ["--plugin", ECHO_PLUGIN, "--port", str(port), "--host", "127.0.0.1"]
    args += ["--model", "red=red.model", "--model", "blue=blue.model"]
    server = ServeProcess(args, cwd=tmp_path, env={"DRUCKER_MANAGEMENT_TOKEN": TOKEN})
    try:
        server.wait_serving(port)
        address = f"127.0.0.1:{port}"
        with Client(address, token=TOKEN, model="red") as red:
            red.upload_model(tmp_path / "red-b.model", "red-b.model")
        base = f"/services/{setup.api.register(address)}/traffic"
        weights = {"weights": {"red.model": 50, "red-b.model": 50}}
        split = setup.call("editor", "PUT", f"{base}/red/split", json=weights)
        assert split.status_code == 200, split.text
        assert setup.call("viewer", "GET", f"{base}/red").json()["split"] == {
            "red.model": 50.0,
            "red-b.model": 50.0,
        }
        blue = setup.call("viewer", "GET", f"{base}/blue").json()
        assert (blue["serving"], blue["split"]) == ("blue.model", {})
        unknown = setup.call("editor", "PUT", f"{base}/blue/split", json=weights)
        assert unknown.status_code == 404, unknown.text  # red's versions are not blue's

        # The service page's traffic link lists both models.
        with httpx.Client(base_url=setup.dashboard.url, follow_redirects=True) as browser:
            page = browser.get("/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert csrf is not None
            form = {"name": "viewer", "password": "viewer-password", "csrf_token": csrf[1]}
            assert browser.post("/login", data=form).status_code == 200
            chooser = browser.get(base)
            assert chooser.status_code == 200
            links = re.findall(r'href="(/services/\d+/traffic/[a-z]+)"', chooser.text)
            assert links == [f"{base}/blue", f"{base}/red"]
            panel = browser.get(f"{base}/red")
            assert 'data-version="red-b.model"' in panel.text
            assert "split red-b.model=50 red.model=50" in panel.text
    finally:
        server.kill()
