"""Real parts for the dashboard tests: the dashboard process, `drucker serve` services, a
throwaway PostgreSQL cluster, Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import REPO
from tests.polling import wait_for
from tests.serving import ServeProcess, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
TOKEN = "service-management-token"


def drucker_cli(*args: str, input: str = "", env: Mapping[str, str] | None = None) -> str:
    """Run ``python -m drucker ARGS``; returns stdout. :raises CalledProcessError:."""
    result = subprocess.run(
        [sys.executable, "-m", "drucker", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise subprocess.CalledProcessError(
            result.returncode, result.args, result.stdout, result.stderr
        )
    return result.stdout


class DashboardProcess:
    """``drucker dashboard`` in a child process on a free loopback port."""

    def __init__(self, data_dir: Path, database: str = "", env: Mapping[str, str] | None = None):
        self.data_dir = data_dir
        self.port = free_port()
        self.database = database
        self.log_path = data_dir.parent / f"dashboard-{self.port}.log"
        args = ["--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(self.port)]
        if database:
            args += ["--database", database]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "drucker", "dashboard", *args],
            env={**os.environ, "DRUCKER_DASHBOARD_STATUS_TTL": "0.5", **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30) -> DashboardProcess:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"dashboard exited:\n{self.log}")
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, "dashboard serving", timeout, interval=0.05)
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def create_user(self, name: str, role: str, password: str) -> None:
        args = ["dashboard", "create-user", name, "--role", role, "--data-dir", str(self.data_dir)]
        if self.database:
            args += ["--database", self.database]
        drucker_cli(*args, input=password + "\n")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


def iris_service(
    workdir: Path, model: Path, name: str, level: str, application: str = "iris"
) -> tuple[ServeProcess, int]:
    """`drucker serve` of the iris model, kept in its model store (so it can be switched back)."""
    store = workdir / "model" / application
    store.mkdir(parents=True)
    shutil.copy(model, store / "iris.joblib")
    (workdir / "settings.yml").write_text(
        f"app.name: {application}\n"
        f"app.service.name: {name}\n"
        f"app.service.level: {level}\n"
        "app.modelfile: iris.joblib\n"
        f"management.token: {TOKEN}\n"
    )
    port = free_port()
    process = ServeProcess(
        [
            "--plugin",
            "drucker_sklearn",
            "--settings",
            "settings.yml",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ],
        cwd=workdir,
    )
    return process, port


def two_model_service(workdir: Path, model: Path) -> tuple[ServeProcess, int]:
    """`drucker serve` of the iris model as ``iris`` (the default model) and ``flowers``."""
    workdir.mkdir()
    shutil.copy(model, workdir / "iris.joblib")
    (workdir / "settings.yml").write_text(
        "app.name: iris\napp.service.name: many\napp.service.level: development\n"
        f"management.token: {TOKEN}\n"
    )
    port = free_port()
    args = ["--plugin", "drucker_sklearn", "--settings", "settings.yml"]
    args += ["--model", "iris=iris.joblib", "--model", "flowers=iris.joblib"]
    process = ServeProcess([*args, "--port", str(port), "--host", "127.0.0.1"], cwd=workdir)
    return process, port


# -- PostgreSQL -------------------------------------------------------------------------------


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; yields its SQLAlchemy URL.

    ``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user.
    """
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise FileNotFoundError("PostgreSQL's initdb/pg_ctl are not installed")
    root = Path(tempfile.mkdtemp(prefix="drucker-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    port = free_port()
    try:
        subprocess.run(
            [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "dashboard", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -F"
        subprocess.run(
            [
                *prefix,
                pg_ctl,
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(root / "log"),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        try:
            yield f"postgresql://dashboard@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
