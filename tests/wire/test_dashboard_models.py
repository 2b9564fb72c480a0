"""The dashboard and a real `drucker serve` of several models (issue 23): the service page lists
its models with their state and serving version; upload, switch, roll back, history and
evaluate act on one model; editors load and unload models, audited; a one-model service's page
shows no list of models."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")

from drucker.client import Client, NotFound
from tests.dashboard_api_support import DashboardApi, signed_in
from tests.dashboard_support import TOKEN, DashboardProcess, iris_service, two_model_service
from tests.datasets import write_iris_csv
from tests.polling import wait_for


class Setup:
    def __init__(self, root: Path, iris_model: Path) -> None:
        self.service, self.port = two_model_service(root / "svc", iris_model)
        self.single, self.single_port = iris_service(root / "one", iris_model, "one", "beta")
        self.dashboard = DashboardProcess(root / "dashboard")
        self.tokens: dict[str, str] = {}
        self.model, self.data = iris_model, write_iris_csv(root / "iris.csv")
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        self.service.wait_serving(self.port)
        self.single.wait_serving(self.single_port)
        self.dashboard.wait_ready()
        self.api = DashboardApi(self.dashboard)
        self.call, self.tokens = self.api.call, self.api.tokens
        self.address = f"127.0.0.1:{self.port}"
        self.service_id = self.api.register(self.address)
        self.single_id = self.api.register(f"127.0.0.1:{self.single_port}")

    def sdk(self, model: str | None) -> Client:
        return Client(self.address, token=TOKEN, model=model)

    def index(self) -> dict[str, dict[str, Any]]:
        reply = self.call("viewer", "GET", f"/services/{self.service_id}/repository")
        assert reply.status_code == 200, reply.text
        return {row["name"]: row for row in reply.json()}

    def close(self) -> None:
        self.dashboard.stop()
        self.service.kill()
        self.single.kill()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[Setup]:
    running = Setup(tmp_path_factory.mktemp("dashboard-models"), iris_model)
    yield running
    running.close()


def serving(setup: Setup, model: str | None) -> str:
    with setup.sdk(model) as client:
        return client.service_info().model_name


def test_the_service_page_lists_its_models_with_state_and_serving_version(setup: Setup) -> None:
    index = setup.index()
    assert {name: row["state"] for name, row in index.items()} == {
        "iris": "READY",
        "flowers": "READY",
    }
    assert index["flowers"]["version"] == serving(setup, "flowers")
    with httpx.Client(base_url=setup.dashboard.url) as browser:
        signed_in(browser, "viewer")
        page = browser.get(f"/services/{setup.service_id}").text
        single = browser.get(f"/services/{setup.single_id}").text
        model_page = browser.get(f"/services/{setup.service_id}/models/flowers")
    listed = page[page.index('id="repository"') : page.index('id="models"')]
    assert 'data-model="flowers" data-state="READY"' in listed
    assert f"/services/{setup.service_id}/models/flowers" in listed
    assert "Unload" not in listed and "Load" not in listed  # buttons for editors only
    assert 'id="repository"' not in single and 'id="models"' in single  # one model: as before
    assert model_page.status_code == 200
    assert 'id="model-name">flowers<' in model_page.text
    bad = httpx.get(f"{setup.dashboard.url}/services/{setup.service_id}/models/..%2Fx")
    assert bad.status_code in (401, 404, 422)


def test_editors_load_and_unload_models_and_each_is_audited(setup: Setup) -> None:
    sid = setup.service_id
    path = f"/services/{sid}/repository/flowers"
    assert setup.call("viewer", "POST", f"{path}/unload").status_code == 403
    unloaded = setup.call("editor", "POST", f"{path}/unload")
    assert unloaded.status_code == 200 and unloaded.json()["ok"] is True, unloaded.text
    assert setup.index()["flowers"]["state"] in ("UNLOADING", "UNAVAILABLE")
    with pytest.raises(NotFound):
        serving(setup, "flowers")
    assert serving(setup, "iris") == "iris.joblib"  # the other model serves on
    with httpx.Client(base_url=setup.dashboard.url) as browser:
        csrf = signed_in(browser, "editor")
        page = browser.get(f"/services/{sid}").text
        assert f'action="/services/{sid}/models/flowers/load"' in page
        loaded = browser.post(f"/services/{sid}/models/flowers/load", data={"csrf_token": csrf})
    assert loaded.status_code == 303 and "err=" not in loaded.headers["location"]
    wait_for(lambda: setup.index()["flowers"]["state"] == "READY", "flowers READY again")
    assert serving(setup, "flowers") == "iris.joblib"
    entries = setup.call("admin", "GET", "/audit").json()
    done = {(e["action"], e["target"], e["user"], e["ok"]) for e in entries}
    assert ("unload model", f"{setup.address}/flowers", "editor", True) in done
    assert ("load model", f"{setup.address}/flowers", "editor", True) in done


@pytest.mark.parametrize(
    ("verb", "model", "status", "said"),
    [
        ("load", "nosuch", 404, "nosuch"),  # the store does not hold it
        ("unload", "iris", 409, "default model"),  # requests naming no model need it
        ("unload", "nosuch", 404, "nosuch"),
    ],
)
def test_refused_loads_and_unloads_say_why_and_are_audited(
    setup: Setup, verb: str, model: str, status: int, said: str
) -> None:
    reply = setup.call("editor", "POST", f"/services/{setup.service_id}/repository/{model}/{verb}")
    assert reply.status_code == status, reply.text
    assert said in reply.json()["detail"]
    entries = setup.call("admin", "GET", "/audit").json()
    assert any(
        e["action"] == f"{verb} model" and e["after"] == model and not e["ok"] for e in entries
    )
    assert setup.index()["iris"]["state"] == "READY"


def test_a_bad_model_name_is_refused_before_the_service_is_asked(setup: Setup) -> None:
    sid = setup.service_id
    for path in (f"/services/{sid}/repository/.hidden/load", f"/services/{sid}/models"):
        params = {"model_name": "a/b"} if path.endswith("/models") else None
        reply = setup.call("editor", "POST" if "load" in path else "GET", path, params=params)
        assert reply.status_code == 422, reply.text


def test_upload_switch_history_and_rollback_act_on_one_model(setup: Setup) -> None:
    sid = setup.service_id
    octets = {"Content-Type": "application/octet-stream"}
    uploaded = setup.call(
        "editor",
        "PUT",
        f"/models/flowers-v2.joblib?service={sid}&model_name=flowers&description=second",
        content=setup.model.read_bytes(),
        headers=octets,
    )
    assert uploaded.status_code == 200, uploaded.text
    files = setup.call("viewer", "GET", f"/services/{sid}/models", params={"model_name": "flowers"})
    assert {m["name"]: m["description"] for m in files.json()}["flowers-v2.joblib"] == "second"
    default_files = setup.call("viewer", "GET", f"/services/{sid}/models").json()
    assert "flowers-v2.joblib" not in {m["name"] for m in default_files}
    with httpx.Client(base_url=setup.dashboard.url) as browser:
        csrf = signed_in(browser, "editor")
        switched = browser.post(
            f"/services/{sid}/models/flowers/switch",
            data={"csrf_token": csrf, "model": "flowers-v2.joblib"},
        )
        assert switched.status_code == 303 and "err=" not in switched.headers["location"]
        page = browser.get(f"/services/{sid}/models/flowers").text
    assert serving(setup, "flowers") == "flowers-v2.joblib"
    assert serving(setup, "iris") == "iris.joblib"  # the other model is untouched
    assert 'id="model-serving">flowers-v2.joblib<' in page
    assert re.search(r"<td>editor</td><td>[^<]*</td><td>flowers-v2\.joblib</td>", page)
    assert "Roll back to" in page
    history = setup.call("viewer", "GET", f"/services/{sid}/switches?model_name=flowers").json()
    assert [s["to_model"] for s in history][:1] == ["flowers-v2.joblib"]
    assert not setup.call("viewer", "GET", f"/services/{sid}/switches").json()
    back = setup.call("editor", "POST", f"/services/{sid}/rollback?model_name=flowers")
    assert back.status_code == 200, back.text
    assert serving(setup, "flowers") != "flowers-v2.joblib"
    entries = setup.call("admin", "GET", "/audit").json()
    targets = {(e["action"], e["target"]) for e in entries}
    assert {("upload", f"{setup.address}/flowers"), ("switch", f"{setup.address}/flowers")} <= (
        targets
    )
    assert ("rollback", f"{setup.address}/flowers") in targets


def test_an_evaluation_of_one_model_is_kept_under_its_name(setup: Setup) -> None:
    sid = setup.service_id
    reply = setup.call(
        "editor",
        "PUT",
        f"/services/{sid}/evaluation-data/iris.csv?model_name=flowers",
        content=setup.data.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["application"] == "flowers" and reply.json()["num"] == 150
    assert reply.json()["model_name"] == serving(setup, "flowers")
    with httpx.Client(base_url=setup.dashboard.url) as browser:
        csrf = signed_in(browser, "editor")
        form = browser.post(
            "/evaluations",
            data={"csrf_token": csrf, "service_id": str(sid), "model_name": "flowers"},
            files={"file": ("iris.csv", setup.data.read_bytes())},
        )
    assert form.status_code == 303 and "/evaluations/" in form.headers["location"], form.text
    kept = setup.call("viewer", "GET", "/evaluations?application=flowers").json()
    assert len(kept) == 2
