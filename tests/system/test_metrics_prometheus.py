"""A real Prometheus server scrapes ``drucker serve`` and answers PromQL about known traffic.

Needs Debian's ``prometheus`` binary (``.ci/setup.d/30-prometheus.sh`` installs it in CI); the
test starts its own instance on a free loopback port with its own configuration and storage.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.kinds import Kind
from tests.calls import call
from tests.conftest import ECHO_PLUGIN
from tests.metrics_support import http_get
from tests.polling import wait_for
from tests.serving import ServeProcess, free_port

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="the prometheus binary is missing")


@pytest.fixture
def drucker(tmp_path: Path, echo_model: Path) -> Iterator[tuple[int, int]]:
    """``drucker serve`` with metrics on: (gRPC port, metrics port)."""
    port, metrics_port = free_port(), free_port()
    server = ServeProcess(
        ["--plugin", ECHO_PLUGIN, "--model", str(echo_model), "--port", str(port)],
        cwd=tmp_path,
        env={"DRUCKER_METRICS_PORT": str(metrics_port), "DRUCKER_APP_HOST": "127.0.0.1"},
    )
    try:
        server.wait_serving(port)
        yield port, metrics_port
    finally:
        assert server.terminate() == 0, server.stderr


@pytest.fixture
def prometheus(tmp_path: Path, drucker: tuple[int, int]) -> Iterator[int]:
    """A Prometheus scraping the metrics port every 200 ms; yields its HTTP port."""
    assert PROMETHEUS is not None
    web_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 200ms, scrape_timeout: 150ms}\n"
        "scrape_configs:\n"
        "  - job_name: drucker\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{drucker[1]}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{web_port}",
        ],
        stdout=log,
        stderr=log,
    )
    try:
        wait_for(
            lambda: http_get(web_port, "/-/ready", timeout=2)[0] == 200,
            "prometheus ready",
            60,
            interval=0.1,
            ignore=(OSError,),
        )
        yield web_port
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def query(prometheus: int, promql: str) -> list[dict[str, Any]]:
    """The instant-query result vector of ``promql``."""
    url = f"http://127.0.0.1:{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as reply:
        answer = json.loads(reply.read())
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def scalar(prometheus: int, promql: str) -> float | None:
    result = query(prometheus, promql)
    return float(result[0]["value"][1]) if result else None


def infer(channel: grpc.Channel, model: str) -> None:
    request = pb.ModelInferRequest(model_name=model)
    tensor = request.inputs.add(name="input", datatype="BYTES", shape=[1])
    tensor.contents.bytes_contents.append(b"hello")
    pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)


def test_prometheus_scrapes_counts_and_latency_quantiles(
    drucker: tuple[int, int], prometheus: int
) -> None:
    port = drucker[0]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        for _ in range(40):
            call(channel, Kind.STRING, Kind.STRING, "fast")
        for _ in range(3):  # 3 of 46 Drucker-protocol requests take 300 ms
            call(channel, Kind.STRING, Kind.STRING, "slow", json.dumps({"sleep": 0.3}))
        for _ in range(3):
            with pytest.raises(grpc.RpcError) as refused:
                call(channel, Kind.STRING, Kind.STRING, "x", json.dumps({"raise": "value"}))
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        for _ in range(5):
            infer(channel, "drucker")
        for _ in range(2):
            with pytest.raises(grpc.RpcError) as unknown:
                infer(channel, "nope")
            assert unknown.value.code() is grpc.StatusCode.NOT_FOUND

    expected = {
        ("drucker", "OK"): 43,
        ("drucker", "INVALID_ARGUMENT"): 3,
        ("v2", "OK"): 5,
        ("v2", "NOT_FOUND"): 2,
    }

    def counts() -> dict[tuple[str, str], float] | None:
        result = query(prometheus, "sum by (protocol, code) (drucker_requests_total)")
        found = {
            (r["metric"]["protocol"], r["metric"]["code"]): float(r["value"][1]) for r in result
        }
        return found if found == expected else None

    wait_for(counts, "prometheus counts", 60, interval=0.1, ignore=(OSError,))
    assert scalar(prometheus, 'up{job="drucker"}') == 1

    # p99 per rpc from the histogram, as the README shows it (without rate(): all traffic).
    p99 = "histogram_quantile(0.99, sum by (le) (drucker_request_duration_seconds_bucket{{{}}}))"
    slow = scalar(prometheus, p99.format('rpc="Predict_String_String"'))
    assert slow is not None and 0.25 < slow <= 0.5, slow  # the 300 ms requests' bucket
    median = scalar(
        prometheus,
        "histogram_quantile(0.5, sum by (le) "
        '(drucker_request_duration_seconds_bucket{rpc="Predict_String_String"}))',
    )
    assert median is not None and median < 0.1, median
    handled = scalar(prometheus, 'sum(grpc_server_handled_total{grpc_method="ModelInfer"})')
    assert handled == 7
