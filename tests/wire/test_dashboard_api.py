"""The dashboard's JSON API against a real dashboard process and a real `drucker serve`:
every endpoint without a token, with a wrong one and with each role; then schemathesis,
property-based, against the served OpenAPI schema."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("schemathesis")

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from tests.conftest import IN_CI
from tests.dashboard_api_support import DashboardApi, sign_in, signed_in
from tests.dashboard_support import TOKEN, DashboardProcess, iris_service
from tests.datasets import write_iris_csv

ROLES = ("admin", "editor", "viewer")


UPLOAD_LIMIT = 1 << 20


class Setup:
    def __init__(self, root: Path, iris_model: Path) -> None:
        self.service, self.port = iris_service(root / "svc", iris_model, "iris-api", "development")
        limit = {"DRUCKER_DASHBOARD_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}
        self.dashboard = DashboardProcess(root / "dashboard", env=limit)
        self.tokens: dict[str, str] = {}
        try:
            self._start(root)
        except BaseException:
            self.close()  # no processes left behind by a failed start
            raise

    def _start(self, root: Path) -> None:
        self.service.wait_serving(self.port)
        self.dashboard.wait_ready()
        self.api = DashboardApi(self.dashboard)
        self.call, self.tokens = self.api.call, self.api.tokens
        self.address = f"127.0.0.1:{self.port}"
        self.service_id = self.api.register(self.address)
        self.model = root / "svc" / "model" / "iris" / "iris.joblib"
        self.data = write_iris_csv(root / "iris.csv")

    def close(self) -> None:
        self.dashboard.stop()
        self.service.kill()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[Setup]:
    running = Setup(tmp_path_factory.mktemp("dashboard-api"), iris_model)
    yield running
    running.close()


# (method, path, request arguments, least role, statuses an allowed role may get)
def endpoints(s: Setup) -> list[tuple[str, str, dict[str, Any], str, set[int]]]:
    sid = s.service_id
    octets = {"Content-Type": "application/octet-stream"}
    return [
        ("GET", "/me", {}, "viewer", {200}),
        ("GET", "/services", {}, "viewer", {200}),
        ("GET", f"/services/{sid}", {}, "viewer", {200}),
        ("GET", f"/services/{sid}/models", {}, "viewer", {200}),
        ("GET", f"/services/{sid}/switches", {}, "viewer", {200}),
        ("GET", f"/services/{sid}/manifests", {}, "viewer", {200}),
        ("GET", "/evaluations", {}, "viewer", {200}),
        ("GET", "/evaluations/999999", {}, "viewer", {404}),
        ("GET", "/evaluations/999999/details.csv", {}, "viewer", {404}),
        ("GET", "/audit", {}, "viewer", {200}),
        (
            "PUT",
            f"/models/api.joblib?service={sid}&description=from%20the%20API",
            {"content": s.model.read_bytes(), "headers": octets},
            "editor",
            {200},
        ),
        ("POST", f"/services/{sid}/switch", {"json": {"model": "api.joblib"}}, "editor", {200}),
        ("POST", f"/services/{sid}/rollback", {}, "editor", {200, 409}),
        (
            "POST",
            "/levels/switch",
            {"json": {"application": "iris", "level": "development", "model": "iris.joblib"}},
            "editor",
            {200},
        ),
        (
            "PUT",
            f"/services/{sid}/evaluation-data/iris.csv",
            {"content": s.data.read_bytes(), "headers": octets},
            "editor",
            {200},
        ),
        (
            "PUT",
            f"/services/{sid}/manifests",
            {"content": MANIFESTS.encode(), "headers": {"Content-Type": "application/yaml"}},
            "admin",
            {204},
        ),
        ("GET", "/users", {}, "admin", {200}),
        (
            "POST",
            "/users",
            {"json": {"name": "made-by-api", "role": "viewer", "password": "long enough"}},
            "admin",
            {201},
        ),
        ("POST", "/services", {"json": {"address": s.address}}, "admin", {409}),
        ("DELETE", "/services/999999", {}, "admin", {404}),
    ]


RANK = {"viewer": 0, "editor": 1, "admin": 2}
MANIFESTS = """apiVersion: apps/v1
kind: Deployment
metadata: {name: iris}
---
apiVersion: v1
kind: Service
metadata: {name: iris}
"""


def test_every_endpoint_with_and_without_a_token_and_with_each_role(setup: Setup) -> None:
    for method, path, arguments, least, allowed in endpoints(setup):
        for who in (None, "wrong"):
            reply = setup.call(who, method, path, **arguments)
            assert reply.status_code == 401, (who, method, path, reply.text)
            assert reply.headers["www-authenticate"] == "Bearer"
        for role in ("admin", "editor", "viewer"):
            reply = setup.call(role, method, path, **arguments)
            if RANK[role] >= RANK[least]:
                assert reply.status_code in allowed, (role, method, path, reply.text)
            else:
                assert reply.status_code == 403, (role, method, path, reply.text)


def test_what_the_api_did_is_in_the_history_and_the_audit_log(setup: Setup) -> None:
    if not setup.call("viewer", "GET", f"/services/{setup.service_id}/switches").json():
        test_every_endpoint_with_and_without_a_token_and_with_each_role(setup)
    switches = setup.call("viewer", "GET", f"/services/{setup.service_id}/switches").json()
    assert {s["to_model"] for s in switches} >= {"api.joblib", "iris.joblib"}
    assert all(s["user"] in ("admin", "editor") for s in switches)
    actions = {e["action"] for e in setup.call("viewer", "GET", "/audit?application=iris").json()}
    assert {"register", "upload", "switch", "evaluate"} <= actions
    evaluations = setup.call("viewer", "GET", "/evaluations").json()
    assert evaluations and evaluations[0]["num"] == 150
    assert len(evaluations[0]["confusion"]) == 3
    service = setup.call("viewer", "GET", f"/services/{setup.service_id}").json()
    assert service["up"] is True and service["has_token"] is True
    assert "token" not in service and TOKEN not in str(service)


def test_manifests_are_kept_shown_and_checked(setup: Setup) -> None:
    path = f"/services/{setup.service_id}/manifests"
    yaml_body = {"Content-Type": "application/yaml"}
    kept = setup.call("admin", "PUT", path, content=MANIFESTS.encode(), headers=yaml_body)
    assert kept.status_code == 204
    assert setup.call("viewer", "GET", path).text == MANIFESTS
    broken = setup.call("admin", "PUT", path, content=b"kind: [unclosed", headers=yaml_body)
    assert broken.status_code == 400 and "not YAML" in broken.json()["detail"]
    assert setup.call("viewer", "GET", path).text == MANIFESTS  # the old ones stay
    with httpx.Client(base_url=setup.dashboard.url) as browser:
        signed_in_as_viewer(browser)
        download = browser.get(f"/services/{setup.service_id}/manifests.yaml")
        assert download.text == MANIFESTS
        assert "attachment" in download.headers["content-disposition"]


def signed_in_as_viewer(browser: httpx.Client) -> None:
    signed_in(browser, "viewer")


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "/%2F%2Fevil.example", "/\\evil.example", "https://evil.example"]
)
def test_sign_in_sends_only_to_paths_of_this_site(setup: Setup, target: str) -> None:
    """Issue 26.5: no open redirect after sign-in, in the form or in the redirect."""
    with httpx.Client(base_url=setup.dashboard.url) as browser:
        page = browser.get("/login", params={"next": target}).text
        assert "evil" not in page
        signed_in = sign_in(browser, "viewer", page, next=target)
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/"
    with httpx.Client(base_url=setup.dashboard.url) as browser:
        kept = sign_in(browser, "viewer", next="/evaluations?x=%2F%2Fy")
        assert kept.headers["location"] == "/evaluations?x=%2F%2Fy"


@pytest.mark.parametrize("address", ["no-port:abc", "http://127.0.0.1:5000", "two words:1"])
def test_the_form_refuses_an_address_the_api_refuses_with_the_same_message(
    setup: Setup, address: str
) -> None:
    refused = setup.call("admin", "POST", "/services", json={"address": address})
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["detail"]
    assert problem["loc"] == ["body", "address"]
    with httpx.Client(base_url=setup.dashboard.url) as browser:
        csrf = signed_in(browser, "admin")
        form = {"address": address, "csrf_token": csrf}
        answer = browser.post("/services", data=form)
        assert answer.status_code == 303
        location = httpx.URL(answer.headers["location"])
        assert location.path == "/"
        assert location.params["err"] == problem["msg"]
        page = browser.get(answer.headers["location"]).text
        assert "HOST:PORT" in page
    services = setup.call("admin", "GET", "/services").json()
    assert address not in {s["address"] for s in services}


def test_sessions_cookies_headers_and_the_sign_in_limit(setup: Setup) -> None:
    with httpx.Client(base_url=setup.dashboard.url) as browser:
        page = browser.get("/login")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        form = {"name": "viewer", "password": "guess", "csrf_token": csrf[1]}
        statuses = [browser.post("/login", data=form).status_code for _ in range(6)]
        assert statuses == [401] * 6  # slowed after five (issue 26.7), never locked
        # the rightful user, from the guesser's very address, still signs in
        rightful = browser.post("/login", data={**form, "password": "viewer-password"})
        assert rightful.status_code == 303
        browser.cookies.clear()
        without_csrf = browser.post("/login", data={"name": "viewer", "password": "x"})
        assert without_csrf.status_code == 403
        assert browser.get("/", follow_redirects=False).headers["location"] == "/login?next=/"


def test_a_cookie_replayed_after_sign_out_signs_nobody_in(setup: Setup) -> None:
    """Issue 26.6: sessions live on the server; signing out ends them, replay or not."""
    with httpx.Client(base_url=setup.dashboard.url) as browser:
        csrf = signed_in(browser, "admin")
        captured = dict(browser.cookies)
        assert browser.get("/users").status_code == 200
        assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
    with httpx.Client(base_url=setup.dashboard.url, cookies=captured) as replay:
        page = replay.get("/users", follow_redirects=False)
        assert page.status_code in (303, 401) and "/login" in page.headers.get("location", "/login")
        user = {
            "name": "mallory",
            "role": "admin",
            "password": "mallory-password",
            "csrf_token": csrf,
        }
        assert replay.post("/users", data=user, follow_redirects=False).status_code in (303, 401)
    users = setup.call("admin", "GET", "/users").json()
    assert "mallory" not in {u["name"] for u in users}


def test_upload_progress_ids_are_chosen_by_the_server_for_their_user_only(setup: Setup) -> None:
    """Issue 26.8: no client-chosen progress ids, and nobody reads another user's upload."""
    url = setup.dashboard.url
    with httpx.Client(base_url=url) as editor, httpx.Client(base_url=url) as admin:
        csrf = {"x-csrf-token": signed_in(editor, "editor")}
        signed_in(admin, "admin")
        issued = editor.post("/uploads", headers=csrf)
        assert issued.status_code == 201
        job = issued.json()["job"]
        assert editor.get(f"/uploads/{job}").status_code == 200
        assert admin.get(f"/uploads/{job}").status_code == 404
        query = {"name": "x.joblib", "service": setup.service_id, "job": "chosen-by-me"}
        made_up = editor.put("/models/upload", params=query, content=b"x", headers=csrf)
        assert made_up.status_code == 404 and "POST /uploads" in made_up.text


def test_uploads_past_the_size_limit_are_refused_and_leave_nothing(setup: Setup) -> None:
    """Issue 26.8: the dashboard takes at most dashboard.max_upload_bytes a file."""
    too_big = b"0" * (UPLOAD_LIMIT + 1)
    sid = setup.service_id
    model = setup.call(
        "editor", "PUT", "/models/big.joblib", params={"service": sid}, content=too_big
    )
    data = setup.call("editor", "PUT", f"/services/{sid}/evaluation-data/big.csv", content=too_big)
    for refused in (model, data):
        assert refused.status_code == 413, refused.text
        assert f"larger than {UPLOAD_LIMIT} bytes" in refused.text
    leftovers = list((setup.dashboard.data_dir / "uploads").iterdir())
    assert leftovers == []
    names = [m["name"] for m in setup.call("viewer", "GET", f"/services/{sid}/models").json()]
    assert "big.joblib" not in names


def test_a_registered_services_connection_can_be_edited_and_is_checked(setup: Setup) -> None:
    """Issue 27.14: token, TLS CA and metrics URL can change, each change checked first."""
    path = f"/services/{setup.service_id}"
    wrong = setup.call("admin", "PATCH", path, json={"token": "not-its-token"})
    assert wrong.status_code == 422 and "refuses the token given" in wrong.json()["detail"]
    assert setup.call("editor", "PATCH", path, json={"token": TOKEN}).status_code == 403
    metrics = "http://127.0.0.1:1/metrics"
    edited = setup.call("admin", "PATCH", path, json={"token": TOKEN, "metrics_url": metrics})
    assert edited.status_code == 200, edited.text
    assert edited.json()["metrics_url"] == metrics
    # the old token was kept by the refused edit: the service still answers the dashboard
    models = setup.call("viewer", "GET", f"{path}/models")
    assert models.status_code == 200 and models.json()
    restored = setup.call("admin", "PATCH", path, json={"metrics_url": ""})
    assert restored.status_code == 200 and restored.json()["metrics_url"] == ""
    entries = setup.call("admin", "GET", "/audit").json()
    assert any(e["action"] == "edit service" and "metrics_url" in e["after"] for e in entries)


def test_switches_made_outside_the_dashboard_show_and_roll_back_from_it(setup: Setup) -> None:
    """Issue 27.13: the service's own history is what the dashboard shows and steps back in."""
    from drucker.client import Client

    with Client(setup.address, token=TOKEN) as sdk:
        before = sdk.service_info().model_name  # what the tests before this one left serving
        sdk.upload_model(setup.model, "outside.joblib")
        sdk.switch_model("outside.joblib")  # with the SDK, not through the dashboard
        try:
            with httpx.Client(base_url=setup.dashboard.url) as browser:
                signed_in(browser, "editor")
                page = browser.get(f"/services/{setup.service_id}").text
            history = page[page.index('id="history"') :]
            assert "outside.joblib" in history and "No switches yet" not in history
            assert f"Roll back to {before}" in page
            path = f"/services/{setup.service_id}/rollback"
            back = setup.call("editor", "POST", path)
            assert back.status_code == 200, back.text
            assert sdk.service_info().model_name == before
            entries = setup.call("admin", "GET", "/audit").json()
            assert any(e["action"] == "rollback" and e["after"] == before for e in entries)
        finally:
            sdk.switch_model(before)


def test_evaluations_made_outside_the_dashboard_show_on_its_evaluations_page(
    setup: Setup,
) -> None:
    """Issue 27.13: the results stored on the service are listed beside the dashboard's own."""
    from drucker.client import Client

    with Client(setup.address, token=TOKEN) as sdk:
        sdk.upload_evaluation_data(setup.data, "outside.csv")
        metrics = sdk.evaluate("outside.csv", "from-the-sdk.result")  # not through the dashboard
        stored = sdk.evaluation_results()
    assert stored[0].name == "from-the-sdk.result" and stored[0].metrics.num == metrics.num
    with httpx.Client(base_url=setup.dashboard.url) as browser:
        signed_in(browser, "viewer")
        page = browser.get("/evaluations").text
    table = page[page.index('id="evaluations"') :]
    at = table.index("from-the-sdk.result")
    row = table[table.rindex("<tr", 0, at) : at]
    assert 'class="from-service"' in row and "No evaluations yet" not in table
    assert "the service (CLI or SDK)" in table


def test_a_production_service_needs_confirm(setup: Setup, tmp_path: Path, iris_model: Path) -> None:
    process, port = iris_service(tmp_path / "prod", iris_model, "iris-prod", "production")
    try:
        process.wait_serving(port)
        address = f"127.0.0.1:{port}"
        # issue 27.14: the token is checked against the service when it is registered
        for token, said in (("", "refuses no token"), ("wrong", "refuses the token given")):
            refused = setup.call(
                "admin", "POST", "/services", json={"address": address, "token": token}
            )
            assert refused.status_code == 422 and said in refused.json()["detail"], refused.text
        created = setup.call(
            "admin", "POST", "/services", json={"address": address, "token": TOKEN}
        )
        assert created.status_code == 201 and created.json()["level"] == "production"
        path = f"/services/{created.json()['id']}/switch"
        refused = setup.call("editor", "POST", path, json={"model": "iris.joblib"})
        assert refused.status_code == 409 and "confirm" in refused.json()["detail"]
        done = setup.call("editor", "POST", path, json={"model": "iris.joblib", "confirm": True})
        assert done.status_code == 200 and done.json()["ok"] is True
        assert setup.call("admin", "DELETE", f"/services/{created.json()['id']}").status_code == 204
    finally:
        process.kill()


def property_test(operation: Any, headers: dict[str, str]) -> Any:
    """A Hypothesis test of one operation: no 500 answer, every answer matching the schema."""
    # 502 (a service did not answer) is a meaningful answer here; 500 never is.
    excluded = [not_a_server_error]
    if operation.label == "PUT /services/{service_id}/manifests":
        # Any string fits the schema; only YAML whose documents have a `kind` is accepted.
        excluded.append(positive_data_acceptance)

    @given(case=operation.as_strategy())
    @settings(
        max_examples=8,
        derandomize=IN_CI,  # CI replays one fixed set of cases; locally each run explores
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, timeout=30, excluded_checks=excluded)
        assert response.status_code != 500, response.text

    return run


def test_api_schemathesis(setup: Setup) -> None:
    """Property-based requests to every operation of the served schema, as the admin (who may
    do anything)."""
    schema = schemathesis.openapi.from_url(setup.dashboard.url + "/api/openapi.json")
    headers = {"Authorization": f"Bearer {setup.tokens['admin']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures: list[str] = []
    for operation in operations:
        try:
            property_test(operation, headers)()
        except Exception as error:
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)
