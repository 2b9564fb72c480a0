"""The dashboard's figures: the overview page's server time with 50 services of which 5 are
down, and the dashboard's memory while it uploads a 1 GiB model to two services.

python -m benchmarks.dashboard                    # both
python -m benchmarks.dashboard --only overview --requests 40
python -m benchmarks.dashboard --only upload --size-mib 1024

Everything is real and on loopback: a `drucker dashboard` process, 45 echo services served by
one helper process (5 more addresses with nothing listening), two `drucker serve` processes
for the upload. Server time is what the dashboard reports in its Server-Timing header for each page.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from benchmarks.procstat import peak_rss_mib

REPO = Path(__file__).resolve().parent.parent
ECHO_PLUGIN = str(REPO / "tests" / "plugins" / "echo_plugin.py")
TOKEN = "benchmark-token"
PASSWORD = "benchmark-password"
LEVELS = ("development", "beta", "staging", "sandbox", "production")
OVERVIEW_TARGET_MS = 300
RSS_TARGET_MIB = 200


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError(what)


class Dashboard:
    def __init__(self, root: Path) -> None:
        self.data = root / "dashboard"
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (root / "dashboard.log").open("ab")
        self.process: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, input: str = "") -> None:
        subprocess.run(
            [sys.executable, "-m", "drucker", "dashboard", *args, "--data-dir", str(self.data)],
            input=input.encode(),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "drucker",
                "dashboard",
                "--data-dir",
                str(self.data),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

        def ready() -> bool:
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(ready, 60, "dashboard start")

    def signed_in(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=120)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        assert csrf is not None
        reply = client.post(
            "/login", data={"name": "admin", "password": PASSWORD, "csrf_token": csrf[1]}
        )
        assert reply.status_code == 303, reply.text
        return client

    def api_token(self, client: httpx.Client) -> str:
        csrf = re.search(r'data-csrf="([^"]+)"', client.get("/account").text)
        assert csrf is not None
        reply = client.post(
            "/account/tokens", data={"name": "bench", "csrf_token": csrf[1]}, follow_redirects=True
        )
        token = re.search(r'id="new-token">([^<]+)<', reply.text)
        assert token is not None
        return token[1]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        self.log.close()


# -- overview ---------------------------------------------------------------------------------

HOST_SERVICES = """
import sys, time
sys.path.insert(0, {repo!r})
from tests.serving import ThreadedServer
servers = []
for i in range({count}):
    workdir = {root!r} + f"/svc{{i}}"
    import os; os.makedirs(workdir + "/model/app", exist_ok=True)
    open(workdir + "/echo.model", "w").write("echo\\n")
    servers.append(ThreadedServer({plugin!r}, workdir + "/echo.model",
        settings={{"application_name": f"app{{i % 5}}", "service_name": f"svc{{i}}",
                   "management_token": {token!r}}}, workdir=__import__("pathlib").Path(workdir)))
for server in servers:
    server.start()
print(" ".join(server.target for server in servers), flush=True)
sys.stdin.read()
"""


def overview(root: Path, requests: int) -> dict[str, float]:
    """Median, p95 and max time of GET / with 50 services (5 down) and with none."""
    from drucker.dashboard.config import DashboardSettings
    from drucker.dashboard.db import Database
    from drucker.dashboard.models import Service

    root.mkdir(parents=True, exist_ok=True)
    host = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOST_SERVICES.format(
                repo=str(REPO),
                count=45,
                root=str(root / "services"),
                plugin=ECHO_PLUGIN,
                token=TOKEN,
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    dashboard = Dashboard(root)
    try:
        assert host.stdout is not None
        up = host.stdout.readline().split()
        down = [f"127.0.0.1:{free_port()}" for _ in range(5)]
        dashboard.cli("create-user", "admin", "--role", "admin", input=PASSWORD + "\n")
        dashboard.start()
        client = dashboard.signed_in()
        empty = _page_times(client, requests)
        client.close()
        dashboard.stop()
        db = Database(DashboardSettings(data_dir=str(dashboard.data)).database_url)
        with db.session() as session:
            for i, address in enumerate(up + down):
                session.add(
                    Service(
                        address=address,
                        token=TOKEN,
                        application=f"app{i % 5}",
                        service_name=f"svc{i}",
                        level=LEVELS[i % 5],
                    )
                )
        db.close()
        dashboard = Dashboard(root)  # a restart with 50 registered services
        dashboard.start()
        client = dashboard.signed_in()
        page = client.get("/")
        cold = server_ms(page)
        assert page.status_code == 200 and page.text.count('class="service"') == 50

        def all_known() -> bool:
            text = client.get("/fragments/overview").text
            return text.count('data-state="down"') == 5 and text.count('data-state="up"') == 45

        _wait(all_known, 10, "every status known")
        full = _page_times(client, requests)
        client.close()
        return {"cold_ms": cold, **full, "empty_median_ms": empty["median_ms"]}
    finally:
        dashboard.stop()
        host.kill()
        host.wait()


def server_ms(reply: httpx.Response) -> float:
    """The handler's own time, from the dashboard's Server-Timing header."""
    match = re.search(r"app;dur=([0-9.]+)", reply.headers.get("server-timing", ""))
    assert match is not None, reply.headers
    return float(match[1])


def _page_times(client: httpx.Client, requests: int) -> dict[str, float]:
    times, totals = [], []
    for _ in range(requests):
        started = time.perf_counter()
        reply = client.get("/")
        totals.append((time.perf_counter() - started) * 1000)
        assert reply.status_code == 200
        times.append(server_ms(reply))
        time.sleep(0.1)  # across several cache lifetimes (2 s), so refreshes are included
    times.sort()
    return {
        "client_median_ms": statistics.median(totals),
        "median_ms": statistics.median(times),
        "p95_ms": times[int(0.95 * (len(times) - 1))],
        "max_ms": times[-1],
    }


# -- upload -----------------------------------------------------------------------------------


def _serve(root: Path, name: str) -> tuple[subprocess.Popen[bytes], int]:
    workdir = root / name
    (workdir / "model" / "drucker").mkdir(parents=True)
    (workdir / "echo.model").write_text("echo\n")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "drucker",
            "serve",
            "--plugin",
            ECHO_PLUGIN,
            "--model",
            "echo.model",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=workdir,
        env={**os.environ, "DRUCKER_MANAGEMENT_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, port


def _chunks(path: Path, size: int = 1024 * 1024) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def upload(root: Path, size_mib: int) -> dict[str, float]:
    """Peak RSS of the dashboard while it uploads one file to two services."""
    root.mkdir(parents=True, exist_ok=True)
    services = [_serve(root, f"svc{i}") for i in range(2)]
    dashboard = Dashboard(root)
    model = root / "big.model"
    with model.open("wb") as handle:  # real bytes, not a sparse file
        block = os.urandom(1024 * 1024)
        for _ in range(size_mib):
            handle.write(block)
    try:
        dashboard.cli("create-user", "admin", "--role", "admin", input=PASSWORD + "\n")
        dashboard.start()
        client = dashboard.signed_in()
        token = dashboard.api_token(client)
        headers = {"Authorization": f"Bearer {token}"}
        ids = []
        for _, port in services:

            def registered(port: int = port) -> bool:
                reply = client.post(
                    "/api/services",
                    headers=headers,
                    json={"address": f"127.0.0.1:{port}", "token": TOKEN},
                )
                if reply.status_code == 201:
                    ids.append(reply.json()["id"])
                    return True
                return False

            _wait(registered, 60, "service registration")
        client.get("/")
        assert dashboard.process is not None
        before = _rss_mib(dashboard.process.pid)
        sampled: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                sampled.append(_rss_mib(pid))
                time.sleep(0.05)

        pid = dashboard.process.pid
        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.perf_counter()
        reply = client.put(
            "/api/models/big.model",
            params={"service": ids},
            headers={**headers, "Content-Type": "application/octet-stream"},
            content=_chunks(model),
            timeout=1800,
        )
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        assert reply.status_code == 200, reply.text
        assert all(outcome["ok"] for outcome in reply.json()["outcomes"])
        peak, _ = peak_rss_mib(dashboard.process.pid)
        client.close()
        return {
            "size_mib": size_mib,
            "rss_before_mib": before,
            "rss_peak_mib": peak,
            "rss_sampled_max_mib": max(sampled),
            "seconds": seconds,
            "mib_per_s_to_each": size_mib / seconds,
        }
    finally:
        dashboard.stop()
        for process, _ in services:
            process.terminate()
            process.wait(30)


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _overview_report(figures: dict[str, float], requests: int) -> tuple[str, str, bool]:
    """What the overview run measured, its target, and whether it met it."""
    summary = (
        f"overview, 50 services (5 down), {requests} requests: "
        f"median {figures['median_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms, "
        f"max {figures['max_ms']:.1f} ms, first page after a restart "
        f"{figures['cold_ms']:.1f} ms (server time); "
        f"median as the client saw it {figures['client_median_ms']:.1f} ms; "
        f"no services: median {figures['empty_median_ms']:.1f} ms "
        f"(x{figures['median_ms'] / figures['empty_median_ms']:.1f})"
    )
    target = f"every request under {OVERVIEW_TARGET_MS} ms"
    return summary, target, figures["max_ms"] < OVERVIEW_TARGET_MS


def _upload_report(figures: dict[str, float]) -> tuple[str, str, bool]:
    """What the upload run measured, its target, and whether it met it."""
    worst = max(figures["rss_sampled_max_mib"], figures["rss_peak_mib"])
    return (
        f"upload {figures['size_mib']} MiB to two services: dashboard RSS "
        f"{figures['rss_before_mib']:.0f} MiB before, at most "
        f"{figures['rss_sampled_max_mib']:.0f} MiB during the upload (sampled every "
        f"50 ms; x{figures['rss_sampled_max_mib'] / figures['rss_before_mib']:.2f}), "
        f"process high-water mark {figures['rss_peak_mib']:.0f} MiB; "
        f"{figures['seconds']:.1f} s ({figures['mib_per_s_to_each']:.0f} MiB/s to each)",
        f"RSS (high-water mark included) under {RSS_TARGET_MIB} MiB",
        worst < RSS_TARGET_MIB,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["overview", "upload"])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="drucker-dashboard-bench-"))
    parts: dict[str, Callable[[], tuple[str, str, bool]]] = {
        "overview": lambda: _overview_report(
            overview(root / "overview", args.requests), args.requests
        ),
        "upload": lambda: _upload_report(upload(root / "upload", args.size_mib)),
    }
    try:
        for name, report in parts.items():
            if args.only in (None, name):
                summary, target, met = report()
                print(summary)
                print(f"  target: {target}: {'met' if met else 'MISSED'}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
