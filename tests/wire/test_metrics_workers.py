"""``--workers 2``: one scrape of the shared metrics port shows the sum over the workers."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import grpc

from drucker.kinds import Kind
from drucker.placement import WINDOW
from tests.calls import call
from tests.conftest import ECHO_PLUGIN
from tests.metrics_support import http_get, scrape, total, value
from tests.polling import wait_for
from tests.serving import ServeProcess, free_port


def predict_over_connections(port: int, connections: int = 16) -> Counter[int]:
    """One prediction per new connection (the kernel spreads connections); answers by pid."""
    pids: Counter[int] = Counter()
    for index in range(connections):
        options = [("grpc.use_local_subchannel_pool", 1), ("test.connection", index)]
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            pids[json.loads(call(channel, Kind.STRING, Kind.STRING, "x").option)["pid"]] += 1
    return pids


def test_workers_sum_their_counts_in_one_scrape(tmp_path: Path, echo_model: Path) -> None:
    port, metrics_port = free_port(), free_port()
    temp = tmp_path / "tmp"
    temp.mkdir()
    server = ServeProcess(
        [
            *("--plugin", ECHO_PLUGIN, "--model", str(echo_model), "--port", str(port)),
            *("--host", "127.0.0.1", "--workers", "2"),
        ],
        cwd=tmp_path,
        env={"DRUCKER_METRICS_PORT": str(metrics_port), "TMPDIR": str(temp)},
    )
    try:
        server.wait_serving(port)
        sent: Counter[int] = Counter()
        deadline = time.monotonic() + 30
        while len(sent) < 2 and time.monotonic() < deadline:  # the second may still load
            sent += predict_over_connections(port)
        assert len(sent) == 2, sent
        expected = sum(sent.values())
        (metrics_dir,) = temp.glob("drucker-metrics-*")
        assert any(metrics_dir.glob("*.db"))
        requests = {"protocol": "drucker", "rpc": "Predict_String_String", "code": "OK"}
        requests["model"] = "drucker"  # named after app.name
        digest = hashlib.sha256(echo_model.read_bytes()).hexdigest()

        def requests_counted() -> float:
            return value(scrape(metrics_port), "drucker_requests_total", **requests)

        # Workers share their counts every second (and the one answering, at once).
        wait_for(lambda: requests_counted() == expected, "requests counted", 10, interval=0.05)
        # Whichever worker answers the scrape, it shows both workers' requests.
        for _ in range(4):
            samples = scrape(metrics_port)
            assert value(samples, "drucker_requests_total", **requests) == expected
            assert (
                total(samples, "grpc_server_handled_total", grpc_method="Predict_String_String")
                == expected
            )
            assert value(samples, "drucker_inflight_requests", protocol="drucker") == 0
            info = {"model": "drucker", "version": echo_model.name, "sha256": digest}
            assert value(samples, "drucker_model_info", **info) == 1
            # The admission series are summed too (the model is named after app.name): each
            # worker queued its first WINDOW predictions for its predict threads, so the sum is
            # more than one worker's alone.
            assert ("drucker_queued_predictions", frozenset({("model", "drucker")})) in samples
            waits = value(samples, "drucker_queue_wait_seconds_count", model="drucker")
            assert max(min(n, WINDOW) for n in sent.values()) < waits <= expected
        assert http_get(metrics_port, "/readyz")[0] == 200

        # A replaced worker's live gauges go; its counts stay in the sum.
        killed = next(iter(sent))
        os.kill(killed, signal.SIGKILL)
        wait_for(
            lambda: not list(metrics_dir.glob(f"gauge_live*_{killed}.db")),
            "dead worker gauges removed",
            interval=0.05,
        )
        assert list(metrics_dir.glob(f"drucker_rpcs_{killed}_*.json"))  # its counts
        more: Counter[int] = Counter()

        def both_workers_answered() -> bool:
            more.update(predict_over_connections(port, 4))
            return len(more) == 2

        wait_for(
            both_workers_answered, "both workers answered", interval=0.05
        )  # the surviving worker and the one that replaced it
        assert killed not in more
        wait_for(
            lambda: requests_counted() == expected + sum(more.values()),
            "requests counted",
            10,
            interval=0.05,
        )
        assert value(scrape(metrics_port), "drucker_inflight_requests", protocol="drucker") == 0
    finally:
        code = server.terminate()
    assert code == 0, server.stderr
    assert not list(temp.glob("drucker-metrics-*")), "the metrics directory is removed at exit"
