"""The dashboard in a real browser (Playwright driving Debian's chromium) against real
`drucker serve` processes. Each flow saves screenshots under test-artifacts/dashboard/."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright.sync_api")

import joblib
from playwright.sync_api import expect, sync_playwright
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from drucker.client import Client
from tests.dashboard_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    TOKEN,
    DashboardProcess,
    iris_service,
    two_model_service,
)
from tests.datasets import write_iris_csv
from tests.serving import ServeProcess, echo_serve_args, free_port

PASSWORDS = {"admin": "admin-password", "viewer": "viewer-password"}


class Stack:
    """A dashboard, two iris services (development, production) and an echo service."""

    def __init__(self, root: Path, iris_model: Path) -> None:
        self.root = root
        self.processes: list[ServeProcess] = []
        self.ports: dict[str, int] = {}
        for name, level in (("iris-dev", "development"), ("iris-prod", "production")):
            process, port = iris_service(root / name, iris_model, name, level)
            self.processes.append(process)
            self.ports[name] = port
        echo_dir = root / "echo"
        echo_dir.mkdir()
        (echo_dir / "echo.model").write_text("echo-a\n")
        self.ports["echo"] = free_port()
        self.echo = ServeProcess(
            echo_serve_args(Path("echo.model"), self.ports["echo"], "--host", "127.0.0.1"),
            cwd=echo_dir,
            env={"DRUCKER_MANAGEMENT_TOKEN": TOKEN},
        )
        self.processes.append(self.echo)
        self.dashboard = DashboardProcess(root / "dashboard")
        try:
            for process, port in zip(self.processes, self.ports.values(), strict=True):
                process.wait_serving(port)
            self.dashboard.wait_ready()
        except BaseException:
            self.close()  # no processes left behind by a failed start
            raise

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def serving(self, name: str) -> str:
        with Client(self.address(name), token=TOKEN) as client:
            return client.service_info().model_name

    def close(self) -> None:
        self.dashboard.stop()
        for process in self.processes:
            process.kill()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("dashboard-stack"), iris_model)
    yield running
    running.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/setup.d/40-chromium.sh)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def second_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A different iris model (a shallow tree): its own bytes, its own sha256."""
    iris = load_iris()
    model = DecisionTreeClassifier(max_depth=2, random_state=0)
    model.fit(iris.data, iris.target_names[iris.target])
    path = tmp_path_factory.mktemp("second") / "iris-tree.joblib"
    joblib.dump(model, path)
    return path


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, stack: Stack, name: str) -> None:
    page.goto(stack.dashboard.url + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Services")


def row(page: Any, stack: Stack, name: str) -> Any:
    return page.locator(f'tr.service[data-address="{stack.address(name)}"]')


def register(page: Any, stack: Stack, name: str) -> None:
    page.goto(stack.dashboard.url + "/")
    if row(page, stack, name).count():
        return
    page.click("#register summary")
    page.fill("#register input[name=address]", stack.address(name))
    page.fill("#register input[name=token]", TOKEN)
    page.click("#register button[type=submit]")
    expect(page.locator(".flash.ok")).to_contain_text(f"registered {stack.address(name)}")


def service_id(page: Any, stack: Stack, name: str) -> str:
    page.goto(stack.dashboard.url + "/")
    href = row(page, stack, name).locator("a").get_attribute("href")
    return str(href).rsplit("/", 1)[-1]


def test_flow1_admin_from_the_cli_registers_services_and_sees_one_go_down(
    stack: Stack, page: Any
) -> None:
    stack.dashboard.create_user("admin", "admin", PASSWORDS["admin"])
    sign_in(page, stack, "admin")
    register(page, stack, "iris-dev")
    register(page, stack, "echo")
    page.goto(stack.dashboard.url + "/")
    for name, model in (("iris-dev", "iris.joblib"), ("echo", "echo.model")):
        expect(row(page, stack, name)).to_have_attribute("data-state", "up")
        expect(row(page, stack, name).locator("td.model")).to_have_text(model)
    expect(page.locator("section.application h2")).to_have_text(["drucker", "iris"])
    shot(page, "flow1-overview")
    stack.echo.terminate()
    expect(row(page, stack, "echo")).to_have_attribute("data-state", "down", timeout=5_000)
    expect(row(page, stack, "iris-dev")).to_have_attribute("data-state", "up")
    shot(page, "flow1-one-down")


def test_flow2_upload_switch_and_roll_back(stack: Stack, page: Any, second_model: Path) -> None:
    sign_in(page, stack, "admin")
    register(page, stack, "iris-dev")
    register(page, stack, "iris-prod")
    page.goto(stack.dashboard.url + "/models")
    for name in ("iris-dev", "iris-prod"):
        page.locator("label.check", has_text=stack.address(name)).locator("input").check()
    page.set_input_files("#upload-form input[type=file]", str(second_model))
    page.fill("#upload-form input[name=description]", "a shallow decision tree")
    page.click("#upload-form button[type=submit]")
    status = page.locator("#upload-status")
    expect(status).to_have_attribute("data-done", "ok", timeout=30_000)
    expect(page.locator("#upload-progress")).to_have_attribute("value", "100")
    shot(page, "flow2-uploaded")

    dev = service_id(page, stack, "iris-dev")
    page.goto(f"{stack.dashboard.url}/services/{dev}")
    models = page.locator("#models tr[data-model]")
    expect(models).to_have_count(2)
    page.locator('tr[data-model="iris-tree.joblib"] button.switch').click()
    expect(page.locator(".flash.ok")).to_have_text("now serving iris-tree.joblib")
    assert stack.serving("iris-dev") == "iris-tree.joblib"
    assert stack.serving("iris-prod") == "iris.joblib"
    expect(page.locator("#rollback")).to_contain_text("Roll back to iris.joblib")
    shot(page, "flow2-switched")
    page.click("#rollback")
    expect(page.locator(".flash.ok")).to_have_text("rolled back")
    assert stack.serving("iris-dev") == "iris.joblib"

    page.goto(stack.dashboard.url + "/audit")
    dev_rows = page.locator("#audit tbody tr", has_text=stack.address("iris-dev"))
    expect(dev_rows.locator("td:nth-child(3)")).to_have_text(
        ["rollback", "switch", "upload", "register"]
    )
    expect(dev_rows.first.locator("td:nth-child(6)")).to_have_text("iris-tree.joblib")
    expect(dev_rows.first.locator("td:nth-child(7)")).to_have_text("iris.joblib")
    shot(page, "flow2-audit")

    # Production asks for a confirmation first.
    prod = service_id(page, stack, "iris-prod")
    page.goto(f"{stack.dashboard.url}/services/{prod}")
    page.locator('tr[data-model="iris-tree.joblib"] button.switch').click()
    expect(page.locator("h1")).to_have_text("Confirm a production change")
    assert stack.serving("iris-prod") == "iris.joblib"
    page.fill("input[name=confirm]", "iris")
    page.click("button.danger")
    expect(page.locator(".flash.ok")).to_have_text("now serving iris-tree.joblib")
    assert stack.serving("iris-prod") == "iris-tree.joblib"


def test_flow3_evaluate_draw_charts_and_compare(stack: Stack, page: Any, tmp_path: Path) -> None:
    sign_in(page, stack, "admin")
    register(page, stack, "iris-dev")
    clean = write_iris_csv(tmp_path / "iris-clean.csv")
    noisy = write_iris_csv(tmp_path / "iris-noisy.csv", noise=0.9)
    ids = []
    for data in (clean, noisy):
        page.goto(stack.dashboard.url + "/evaluations")
        page.locator("#evaluate-form select[name=service_id]").select_option(
            service_id_by_label(page, stack.address("iris-dev"))
        )
        page.set_input_files("#evaluate-form input[type=file]", str(data))
        page.click("#evaluate-form button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Evaluation #")
        ids.append(page.url.split("/evaluations/")[1].split("?")[0])
        bars = page.locator("svg.bars rect.bar")
        expect(bars).to_have_count(9)  # 3 classes x precision, recall, F1
        heights = [float(h) for h in bars.evaluate_all("els => els.map(e => e.getBBox().height)")]
        assert all(h >= 0 for h in heights) and max(heights) > 100
        cells = page.locator("svg.heatmap rect.cell")
        expect(cells).to_have_count(9)
        counts = [int(c) for c in cells.evaluate_all("els => els.map(e => e.dataset.count)")]
        assert sum(counts) == 150
        accuracy = float(page.locator("#accuracy").inner_text())
        assert sum(counts[i * 4] for i in range(3)) == round(accuracy * 150)
    shot(page, "flow3-evaluation")
    with page.expect_download() as download:
        page.click("#csv")
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0] == ["input", "label", "output", "score", "is_correct"] and len(rows) == 151

    page.goto(f"{stack.dashboard.url}/evaluations/compare?a={ids[0]}&b={ids[1]}")
    differences = page.locator("#differences tbody tr")
    expect(differences).to_have_count(3)
    expect(page.locator("svg.bars rect.bar")).to_have_count(6)
    deltas = page.locator("#differences td.delta")
    expect(deltas.first).not_to_have_text("\u2013")
    worse = page.locator("#differences td.delta.worse")
    assert worse.count() >= 1  # the noisy data scores worse on some class
    shot(page, "flow3-compare")


def service_id_by_label(page: Any, address: str) -> str:
    option = page.locator("#evaluate-form select[name=service_id] option", has_text=address)
    return str(option.get_attribute("value"))


def test_flow4_viewer_csrf_and_escaping(stack: Stack, browser: Any, page: Any) -> None:
    sign_in(page, stack, "admin")
    register(page, stack, "iris-dev")
    dev = service_id(page, stack, "iris-dev")
    csrf = page.get_attribute("body", "data-csrf")
    model = stack.root / "iris-dev" / "model" / "iris" / "iris.joblib"
    reply = page.request.put(
        f"{stack.dashboard.url}/models/upload?name=iris-notes.joblib&service={dev}"
        "&description=%3Cscript%3Ewindow.pwned%3D1%3C%2Fscript%3E",
        data=model.read_bytes(),
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"},
    )
    assert reply.status == 200, reply.text()
    # A change without the CSRF token is refused, even for an admin.
    forged = page.request.post(
        f"{stack.dashboard.url}/services/{dev}/switch", form={"model": "iris-notes.joblib"}
    )
    assert forged.status == 403
    assert stack.serving("iris-dev") == "iris.joblib"

    stack.dashboard.create_user("viewer", "viewer", PASSWORDS["viewer"])
    context = browser.new_context()
    viewer = context.new_page()
    try:
        sign_in(viewer, stack, "viewer")
        expect(viewer.locator("#register")).to_have_count(0)
        viewer.goto(f"{stack.dashboard.url}/services/{dev}")
        expect(viewer.locator("#models tr[data-model]")).not_to_have_count(0)
        expect(viewer.locator("button.switch, #rollback, form[action$=manifests]")).to_have_count(0)
        description = viewer.locator('tr[data-model="iris-notes.joblib"] td.description')
        expect(description).to_have_text("<script>window.pwned=1</script>")
        assert viewer.evaluate("() => window.pwned") is None
        viewer.goto(f"{stack.dashboard.url}/models")
        expect(viewer.locator("#upload-form")).to_have_count(0)
        shot(viewer, "flow4-viewer")
        token = viewer.get_attribute("body", "data-csrf")
        by_hand = viewer.request.post(
            f"{stack.dashboard.url}/services/{dev}/switch",
            form={"model": "iris-notes.joblib", "csrf_token": token},
        )
        assert by_hand.status == 403
        upload = viewer.request.put(
            f"{stack.dashboard.url}/models/upload?name=x.joblib&service={dev}",
            data=b"x",
            headers={"X-CSRF-Token": token, "Content-Type": "application/octet-stream"},
        )
        assert upload.status == 403
    finally:
        context.close()
    assert stack.serving("iris-dev") == "iris.joblib"


def test_flow5_a_server_of_several_models(
    stack: Stack, page: Any, tmp_path: Path, iris_model: Path, second_model: Path
) -> None:
    """Issue 23: the service page lists the models; unload and load one; upload to it and
    switch it from its own page, the other model untouched."""
    process, port = two_model_service(tmp_path / "many", iris_model)
    address = f"127.0.0.1:{port}"
    try:
        process.wait_serving(port)
        sign_in(page, stack, "admin")
        page.click("#register summary")
        page.fill("#register input[name=address]", address)
        page.fill("#register input[name=token]", TOKEN)
        page.click("#register button[type=submit]")
        expect(page.locator(".flash.ok")).to_contain_text(f"registered {address}")
        flowers = page.locator('#repository tr[data-model="flowers"]')
        expect(flowers).to_have_attribute("data-state", "READY")
        expect(flowers.locator("td.version")).to_have_text("iris.joblib")
        flowers.locator("button.unload").click()
        expect(page.locator(".flash.ok")).to_have_text("flowers unloaded")
        expect(flowers).to_have_attribute("data-state", re.compile("UNLOADING|UNAVAILABLE"))
        flowers.locator("button.load").click()
        expect(page.locator(".flash.ok")).to_have_text("flowers loaded")
        expect(flowers).to_have_attribute("data-state", "READY")
        shot(page, "flow5-models")

        flowers.locator("a").click()
        expect(page.locator("#model-name")).to_have_text("flowers")
        model_page = page.url
        page.click("#upload-link")
        expect(page.locator("#upload-model")).to_have_text("flowers")
        page.set_input_files("#upload-form input[type=file]", str(second_model))
        page.click("#upload-form button[type=submit]")
        expect(page.locator("#upload-status")).to_have_attribute("data-done", "ok", timeout=30_000)
        page.goto(model_page)
        page.locator('tr[data-model="iris-tree.joblib"] button.switch').click()
        expect(page.locator(".flash.ok")).to_have_text("flowers now serves iris-tree.joblib")
        expect(page.locator("#model-serving")).to_have_text("iris-tree.joblib")
        shot(page, "flow5-model-page")
        with Client(address, token=TOKEN, model="flowers") as client:
            assert client.service_info().model_name == "iris-tree.joblib"
        with Client(address, token=TOKEN) as client:
            assert client.service_info().model_name == "iris.joblib"
    finally:
        process.kill()
