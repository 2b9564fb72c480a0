"""Request rate and p99 from a real Prometheus endpoint (prometheus_client's HTTP server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("prometheus_client")

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from drucker.dashboard import metrics
from drucker.dashboard.connect import Endpoint
from drucker.dashboard.status import StatusBoard
from tests.conftest import ECHO_PLUGIN
from tests.serving import ThreadedServer, free_port


class Exporter:
    """The series `drucker serve` exports, on a real HTTP endpoint."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "drucker_requests",
            "requests",
            ["protocol", "rpc", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "drucker_request_duration_seconds",
            "request duration",
            ["protocol", "rpc"],
            registry=self.registry,
        )
        self.port = free_port()
        self.server, self.thread = start_http_server(
            self.port, addr="127.0.0.1", registry=self.registry
        )
        self.url = f"http://127.0.0.1:{self.port}/metrics"

    def serve(self, count: int, seconds: float, rpc: str = "Predict_String_String") -> None:
        for _ in range(count):
            self.requests.labels("drucker", rpc, "OK").inc()
            self.duration.labels("drucker", rpc).observe(seconds)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    served = Exporter()
    yield served
    served.close()


def test_rate_and_p99_come_from_the_interval_between_two_scrapes(
    exporter: Exporter, tmp_path: Path
) -> None:
    model = tmp_path / "echo.model"
    model.write_text("echo-a\n")
    exporter.serve(1000, 5.0)  # before the first scrape: must not count
    with ThreadedServer(ECHO_PLUGIN, str(model)) as server:
        endpoint = Endpoint(1, server.target, metrics_url=exporter.url)

        async def scenario() -> tuple[Any, Any, float, float]:
            board = StatusBoard(ttl=3600, timeout=10.0)  # checks only when asked
            try:
                started = time.monotonic()
                first = await board.refresh(endpoint)
                after_first = time.monotonic()
                exporter.serve(98, 0.003)
                exporter.serve(2, 0.8, rpc="Predict_ArrFloat_String")
                await asyncio.sleep(0.6)  # an interval to measure a rate over
                before_second = time.monotonic()
                second = await board.refresh(endpoint)
                finished = time.monotonic()
                return first, second, before_second - after_first, finished - started
            finally:
                board.close()

        first, second, shortest, longest = asyncio.run(scenario())
    assert first.up and first.request_rate is None  # one scrape gives no rate yet
    assert second.up and second.info.model_name == "echo.model"
    assert 100 / longest <= second.request_rate <= 100 / shortest
    # 98 of 100 in the 5 ms bucket, 2 in (0.75, 1]: the 99th lies halfway into the latter.
    assert second.p99_seconds == pytest.approx(0.875)


def test_a_service_without_metrics_or_with_a_dead_endpoint_is_still_up(tmp_path: Path) -> None:
    model = tmp_path / "echo.model"
    model.write_text("echo-a\n")
    with ThreadedServer(ECHO_PLUGIN, str(model)) as server:
        dead = f"http://127.0.0.1:{free_port()}/metrics"

        async def scenario() -> list[Any]:
            board = StatusBoard(ttl=3600, timeout=1.0)
            try:
                return [
                    await board.refresh(Endpoint(1, server.target)),
                    await board.refresh(Endpoint(2, server.target, metrics_url=dead)),
                    await board.refresh(Endpoint(3, f"127.0.0.1:{free_port()}")),
                ]
            finally:
                board.close()

        plain, dead_metrics, down = asyncio.run(scenario())
    assert plain.up and plain.request_rate is None
    assert dead_metrics.up and dead_metrics.p99_seconds is None
    assert not down.up and down.error


def test_a_counter_reset_counts_from_zero() -> None:
    before = metrics.Sample(0.0, 500.0, {0.1: 500.0, float("inf"): 500.0})
    after = metrics.Sample(2.0, 40.0, {0.1: 40.0, float("inf"): 40.0})
    traffic = metrics.traffic(before, after)
    assert traffic is not None and traffic.request_rate == 20.0


def test_parse_sums_the_series_over_their_labels() -> None:
    text = (
        'drucker_requests_total{protocol="v2",rpc="ModelInfer",code="OK"} 3\n'
        'drucker_requests_total{protocol="drucker",rpc="Predict",code="OK"} 4\n'
        'drucker_request_duration_seconds_bucket{protocol="v2",rpc="ModelInfer",le="0.1"} 2\n'
        'drucker_request_duration_seconds_bucket{protocol="v2",rpc="ModelInfer",le="+Inf"} 3\n'
        'drucker_request_duration_seconds_bucket{protocol="drucker",rpc="Predict",le="0.1"} 4\n'
        'drucker_request_duration_seconds_bucket{protocol="drucker",rpc="Predict",le="+Inf"} 4\n'
    )
    sample = metrics.parse(text, at=1.0)
    assert sample.requests == 7
    assert sample.buckets == {0.1: 6, float("inf"): 7}


@given(
    st.lists(st.integers(0, 50), min_size=1, max_size=8),
    st.floats(0.01, 0.99),
    st.floats(0.01, 0.99),
)
def test_quantiles_grow_with_q_and_stay_within_the_buckets(
    counts: list[int], q1: float, q2: float
) -> None:
    bounds = [0.001 * 2**i for i in range(len(counts))]
    cumulative, total = {}, 0
    for bound, count in zip(bounds, counts, strict=True):
        total += count
        cumulative[bound] = float(total)
    cumulative[float("inf")] = float(total)
    low, high = sorted((q1, q2))
    first, second = metrics.quantile(low, cumulative), metrics.quantile(high, cumulative)
    if total == 0:
        assert first is None and second is None
        return
    assert first is not None and second is not None
    assert 0 <= first <= second <= bounds[-1]


def test_the_overview_shows_rate_and_p99_of_a_registered_service(
    exporter: Exporter, tmp_path: Path
) -> None:
    """The whole path: a dashboard process scraping a real endpoint every status refresh."""
    import httpx

    from tests.dashboard_api_support import api_token
    from tests.dashboard_support import DashboardProcess, wait_for

    model = tmp_path / "echo.model"
    model.write_text("echo-a\n")
    dashboard = DashboardProcess(tmp_path / "data")
    try:
        token = "metrics-token"
        settings = {"management_token": token}
        with ThreadedServer(ECHO_PLUGIN, str(model), settings) as server:
            dashboard.wait_ready()
            dashboard.create_user("ada", "admin", "a good password")
            headers = {
                "Authorization": f"Bearer {api_token(dashboard.url, 'ada', 'a good password')}"
            }
            created = httpx.post(
                dashboard.url + "/api/services",
                json={"address": server.target, "metrics_url": exporter.url, "token": token},
                headers=headers,
                timeout=30,
            )
            assert created.status_code == 201, created.text
            url = f"{dashboard.url}/api/services/{created.json()['id']}"

            def traffic_shown() -> bool:
                exporter.serve(50, 0.02)
                service = httpx.get(url, headers=headers, timeout=30).json()
                return bool(service["request_rate"]) and service["p99_seconds"] is not None

            wait_for(traffic_shown, "rate and p99 in the API", 30, interval=0.05)
            service = httpx.get(url, headers=headers, timeout=30).json()
            assert service["request_rate"] > 0
            assert 0.01 <= service["p99_seconds"] <= 0.025  # all in the (10 ms, 25 ms] bucket
    finally:
        dashboard.stop()
