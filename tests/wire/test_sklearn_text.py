"""The scikit-learn plugin reads from the model whether it takes text or numbers."""

from __future__ import annotations

import csv
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import joblib
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from drucker.kinds import Kind
from tests.calls import call
from tests.management import evaluate, upload_data
from tests.serving import ThreadedServer, sklearn_http_server

TOKEN = "text-token"
DOCUMENTS = [
    ("a wonderful, moving film", "good"),
    ("great acting and a great story", "good"),
    ("I loved it, 10, 10", "good"),
    ("wonderful", "good"),
    ("a dull and boring film", "bad"),
    ("terrible acting, boring story", "bad"),
    ("I hated it", "bad"),
    ("boring", "bad"),
]


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts, labels = zip(*DOCUMENTS, strict=True)
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
    path = tmp_path_factory.mktemp("text") / "reviews.joblib"
    joblib.dump(model, path)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, text_model: Path) -> Iterator[ThreadedServer]:
    settings = {"application_name": "reviews", "management_token": TOKEN}
    workdir = tmp_path_factory.mktemp("text-server")
    with sklearn_http_server(text_model, workdir, settings) as server:
        yield server


def test_text_that_looks_like_numbers_is_a_document(
    server: ThreadedServer, text_model: Path
) -> None:
    model = joblib.load(text_model)
    with server.channel() as channel:
        for text in ("10, 10", "[1, 2]", "wonderful film"):
            answer = call(channel, Kind.STRING, Kind.STRING, text)
            assert answer.label == model.predict([text])[0]
            assert answer.score == pytest.approx(max(model.predict_proba([text])[0]), abs=1e-6)
        by_bytes = call(channel, Kind.BYTES, Kind.STRING, b"boring story")
        assert by_bytes.label == model.predict(["boring story"])[0]


def test_numbers_sent_to_a_text_model_are_refused(server: ThreadedServer) -> None:
    with server.channel() as channel:
        with pytest.raises(grpc.RpcError) as refused:
            call(channel, Kind.ARR_FLOAT, Kind.STRING, [1.0, 2.0])
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "text document" in (refused.value.details() or "")


def test_v2_metadata_declares_text_and_a_bytes_tensor_is_one_document_per_row(
    server: ThreadedServer, text_model: Path
) -> None:
    with urllib.request.urlopen(f"{server.http_url}/v2/models/reviews", timeout=10) as response:
        metadata = json.load(response)
    assert metadata["inputs"][0]["datatype"] == "BYTES"
    assert metadata["inputs"][0]["parameters"]["content_type"] == "str"
    texts = ["a great story", "dull, boring", "10, 10"]
    body = {"inputs": [{"name": "input", "datatype": "BYTES", "shape": [3], "data": texts}]}
    request = urllib.request.Request(
        f"{server.http_url}/v2/models/reviews/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        outputs = {o["name"]: o["data"] for o in json.load(response)["outputs"]}
    assert outputs["label"] == joblib.load(text_model).predict(texts).tolist()


def test_a_text_csv_evaluates(server: ThreadedServer, tmp_path: Path, text_model: Path) -> None:
    data = tmp_path / "reviews.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "sentiment"])  # a header line: not a class
        writer.writerows(DOCUMENTS)
        writer.writerow(["wonderful, but boring", "bad"])
    model = joblib.load(text_model)
    texts = [text for text, _ in DOCUMENTS] + ["wonderful, but boring"]
    truth = [label for _, label in DOCUMENTS] + ["bad"]
    expected = sum(p == t for p, t in zip(model.predict(texts), truth, strict=True)) / len(truth)
    with server.channel() as channel:
        assert upload_data(channel, "reviews.csv", data, TOKEN).status == 1
        metrics = evaluate(channel, "reviews.csv", "run", TOKEN).metrics
    assert metrics.num == len(truth)
    assert metrics.accuracy == pytest.approx(expected, abs=1e-6)
    assert sorted(metrics.labels) == ["bad", "good"]


def test_text_sent_to_a_numeric_model_is_invalid_argument(iris_server: ThreadedServer) -> None:
    with iris_server.channel() as channel:
        with pytest.raises(grpc.RpcError) as refused:
            call(channel, Kind.STRING, Kind.STRING, "not numbers")
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "takes 4 numbers" in (refused.value.details() or "")
