"""Typed V2, driven by the signature: the data plane directly, then tritonclient on the wire."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drucker.dispatch import Dispatcher
from drucker.errors import InvalidInputError, TooLargeError
from drucker.kinds import Kind
from drucker.management import ModelManager
from drucker.models import ModelTable
from drucker.protocol.v2.dataplane import DataPlane, InferRequest, InputTensor
from tests.core import runtime
from tests.plugins import echo_plugin, text_plugin
from tests.serving import ThreadedServer

triton = pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] is not installed")


def plane(plugin: object, tmp_path: Path, **overrides: Any) -> DataPlane:
    rt, _ = runtime(plugin, tmp_path, application_name="m", **overrides)
    return DataPlane(ModelTable.of(ModelManager(rt), Dispatcher(rt)))


def texts(*values: bytes, parameters: dict[str, Any] | None = None) -> InputTensor:
    array = np.empty(len(values), dtype=object)
    array[:] = list(values)
    return InputTensor("text", "BYTES", array, parameters or {})


def infer(dataplane: DataPlane, tensor: InputTensor, **parameters: Any) -> Any:
    request = InferRequest("m", "", [tensor], parameters)
    return asyncio.run(dataplane.infer(request))


def test_text_reaches_the_plugin_as_strings_and_labels_follow_the_signature(
    tmp_path: Path,
) -> None:
    answer = infer(plane(text_plugin, tmp_path), texts(b"hello", "wörld!".encode()))
    label, score = answer.outputs
    assert (label.name, label.datatype, label.shape) == ("label", "FP64", [2])
    assert label.data.tolist() == [5.0, 6.0]
    assert (score.datatype, score.shape) == ("FP32", [2])


def test_text_that_is_not_utf_8_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        infer(plane(text_plugin, tmp_path), texts(b"ok", b"\xff\xfe"))


def test_content_type_parameter_overrides_the_default(tmp_path: Path) -> None:
    echo = plane(echo_plugin, tmp_path)  # no signature: BYTES stay bytes
    as_bytes = infer(echo, texts(b"abc"), output_kind="Bytes")
    assert as_bytes.outputs[0].data.tolist() == [b"abc"]
    as_text = infer(echo, texts(b"abc", parameters={"content_type": "str"}), output_kind="String")
    assert as_text.outputs[0].data.tolist() == ["abc"]
    with pytest.raises(InvalidInputError, match="content_type"):
        infer(echo, texts(b"abc", parameters={"content_type": "json"}))


def test_rows_of_numbers_and_the_default_signature(tmp_path: Path) -> None:
    echo = plane(echo_plugin, tmp_path)
    rows = InputTensor("input", "INT64", np.array([[1, 2], [3, 4]], dtype=np.int64))
    answer = infer(echo, rows)  # default signature: label BYTES → String
    assert [v for v in answer.outputs[0].data.tolist()] == ["1,2", "3,4"]
    assert answer.outputs[0].datatype == "BYTES"
    ints = infer(echo, rows, output_kind="ArrInt")
    assert (ints.outputs[0].datatype, ints.outputs[0].data.tolist()) == ("INT32", [[1, 2], [3, 4]])


def test_metadata_and_answers_agree_on_datatypes(tmp_path: Path) -> None:
    dataplane = plane(text_plugin, tmp_path)
    meta = dataplane.model_metadata("m")
    answer = infer(dataplane, texts(b"abc"))
    declared = {spec.name: spec.datatype for spec in meta.outputs}
    assert {out.name: out.datatype for out in answer.outputs} == declared
    assert meta.inputs[0].content_type == "str"


def test_too_many_rows_are_refused(tmp_path: Path) -> None:
    dataplane = plane(echo_plugin, tmp_path, v2_max_rows=3)
    rows = InputTensor("input", "FP32", np.ones((4, 2), dtype=np.float32))
    with pytest.raises(TooLargeError, match=r"v2\.max_rows"):
        infer(dataplane, rows)


@pytest.fixture(scope="module")
def text_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    settings = {"application_name": "lengths"}
    workdir = tmp_path_factory.mktemp("text")
    with ThreadedServer(text_plugin, None, settings, workdir=workdir) as server:
        yield server


def test_tritonclient_sends_text_unchanged(text_server: ThreadedServer) -> None:
    client = triton.InferenceServerClient(url=text_server.target)
    try:
        meta = client.get_model_metadata("lengths")
        assert [(t.name, t.datatype) for t in meta.outputs] == [
            ("label", "FP64"),
            ("score", "FP32"),
        ]
        tensor = triton.InferInput("text", [3], "BYTES")
        tensor.set_data_from_numpy(np.array(["a", "four", "здравствуй"], dtype=object))
        result = client.infer("lengths", [tensor])
    finally:
        client.close()
    assert result.as_numpy("label").tolist() == [1.0, 4.0, 10.0]
    assert result.as_numpy("label").dtype == np.float64
    assert Kind.ARR_FLOAT.is_array  # the kind the FP64 label stood for
