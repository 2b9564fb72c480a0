"""Evaluation: metrics equal scikit-learn's, results stored as data and streamed in chunks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import grpc
import joblib
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from tests.datasets import write_iris_csv
from tests.management import evaluate, evaluation_result, upload_data
from tests.serving import ThreadedServer

TOKEN = "eval-token"


@pytest.fixture
def server(tmp_path: Path, iris_model: Path) -> ThreadedServer:
    settings = {"management_token": TOKEN, "max_message_bytes": 64 * 1024}
    with ThreadedServer("drucker_sklearn", str(iris_model), settings, workdir=tmp_path) as server:
        yield server


def test_metrics_equal_scikit_learn(
    server: ThreadedServer, iris_model: Path, tmp_path: Path
) -> None:
    data = write_iris_csv(tmp_path / "iris.csv", noise=0.6)
    with server.channel() as channel:
        assert upload_data(channel, "iris.csv", data, TOKEN).status == 1
        metrics = evaluate(channel, "iris.csv", "run1", TOKEN).metrics

    rows = list(csv.reader(data.open()))[1:]
    truth = [r[-1] for r in rows]
    predicted = joblib.load(iris_model).predict(
        np.asarray([[float(v) for v in r[:-1]] for r in rows])
    )
    labels = sorted(set(truth) | set(predicted))
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    assert metrics.num == len(rows) == 150
    assert list(metrics.labels) == labels
    assert metrics.accuracy == pytest.approx(accuracy_score(truth, predicted), abs=1e-6)
    assert list(metrics.precision) == pytest.approx(list(precision), abs=1e-6)
    assert list(metrics.recall) == pytest.approx(list(recall), abs=1e-6)
    assert list(metrics.fvalue) == pytest.approx(list(f1), abs=1e-6)
    assert metrics.option["macro_f1"] == pytest.approx(float(np.mean(f1)), abs=1e-6)
    assert metrics.accuracy < 1.0  # the noise makes mistakes, so the check is not trivial


def test_results_are_data_and_stream_under_the_message_limit(
    server: ThreadedServer, tmp_path: Path
) -> None:
    data = write_iris_csv(tmp_path / "big.csv", repeat=40)  # 6,000 rows
    with server.channel() as channel:
        assert upload_data(channel, "big.csv", data, TOKEN).status == 1
        metrics = evaluate(channel, "big.csv", "big-run", TOKEN).metrics
        replies = evaluation_result(channel, "big-run", TOKEN)
    assert replies[0].metrics.num == metrics.num == 6000
    details = [d for reply in replies for d in reply.detail]
    assert len(details) == 6000
    assert len(replies) > 3
    assert all(reply.ByteSize() < 64 * 1024 for reply in replies)
    assert sum(d.is_correct for d in details) == round(metrics.accuracy * 6000)
    first = details[0]
    assert list(first.input.tensor.val) == pytest.approx([5.1, 3.5, 1.4, 0.2])
    assert list(first.label.str.val) == ["setosa"]
    results = server.workdir / "eval" / "drucker" / ".results"
    summary = json.loads((results / "big-run.summary.json").read_text())
    assert summary["num"] == 6000
    record = json.loads((results / summary["details_file"]).open().readline())
    assert record["label"] == "setosa" and record["is_correct"] is True


def test_evaluation_errors(server: ThreadedServer, tmp_path: Path) -> None:
    with server.channel() as channel:
        with pytest.raises(grpc.RpcError) as caught:
            evaluate(channel, "absent.csv", "r", TOKEN)
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as caught:
            evaluation_result(channel, "never-run", TOKEN)
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        bad = tmp_path / "bad.csv"
        bad.write_text("a,b,c,d,label\n1,2,x,4,setosa\n")
        empty = tmp_path / "empty.csv"
        empty.write_text("a,b,c,d,label\n")
        for name, path in (("bad.csv", bad), ("empty.csv", empty)):
            assert upload_data(channel, name, path, TOKEN).status == 1
            with pytest.raises(grpc.RpcError) as caught:
                evaluate(channel, name, "r", TOKEN)
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "holds no samples" in caught.value.details()
        with pytest.raises(grpc.RpcError) as caught:
            evaluate(channel, "bad.csv", "r", None)
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
