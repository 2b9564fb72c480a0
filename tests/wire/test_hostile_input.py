"""Hostile messages get exact status codes on every service of a real server, never UNKNOWN."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from drucker._wire import drucker_pb2
from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.kinds import Kind
from tests.calls import call
from tests.serving import ThreadedServer, echo_server_in

MAX_MESSAGE = 1024 * 1024
# A varint that never ends and a length beyond the message: two ways for any message not to
# decode; field 1 of a message whose field 1 is a string, holding bytes that are not UTF-8.
GARBAGE = [b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", b"\x0a\x7fab"]
NOT_UTF8 = b"\x0a\x02\xff\xfe"
STRING_FIELD_ONE = [
    "/drucker.DruckerWorker/Predict_String_String",
    "/drucker.DruckerDashboard/SwitchModel",
    "/drucker.DruckerDashboard/EvaluationResult",
    "/drucker.Health/Check",
    "/grpc.health.v1.Health/Check",
    "/inference.GRPCInferenceService/ModelInfer",
    "/inference.GRPCInferenceService/ModelMetadata",
]
UNARY = [
    *STRING_FIELD_ONE,
    "/drucker.DruckerWorker/Predict_ArrFloat_Bytes",
    "/drucker.DruckerDashboard/ServiceInfo",
    "/inference.GRPCInferenceService/ServerLive",
]
STREAMED = [
    "/drucker.DruckerWorker/Predict_Bytes_String",
    "/drucker.DruckerWorker/Predict_Bytes_Bytes",
    "/drucker.DruckerDashboard/UploadModel",
    "/drucker.DruckerDashboard/EvaluateModel",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
]
STREAMED_OUT = {
    "/drucker.DruckerWorker/Predict_ArrFloat_Bytes",
    "/drucker.DruckerDashboard/EvaluationResult",
    "/drucker.DruckerWorker/Predict_Bytes_Bytes",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    settings = {"management_auth": False, "max_message_bytes": MAX_MESSAGE}
    with echo_server_in(tmp_path_factory.mktemp("hostile"), settings) as server:
        yield server


def _code(action: Any) -> grpc.StatusCode:
    try:
        result = action()
        if hasattr(result, "__iter__") and not isinstance(result, bytes):
            list(result)
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def raw_call(channel: grpc.Channel, method: str, message: bytes | list[bytes]) -> grpc.StatusCode:
    """Send ``message`` (bytes, or the messages of a stream) as it is; the status code."""
    streamed_out = method in STREAMED_OUT
    if isinstance(message, list):
        factory = channel.stream_stream if streamed_out else channel.stream_unary
        return _code(lambda: factory(method)(iter(message), timeout=10))
    factory = channel.unary_stream if streamed_out else channel.unary_unary  # type: ignore[assignment]
    return _code(lambda: factory(method)(message, timeout=10))


@pytest.mark.parametrize("method", UNARY)
@pytest.mark.parametrize("garbage", GARBAGE, ids=["endless-varint", "cut-off"])
def test_an_undecodable_request_is_invalid_argument(
    server: ThreadedServer, method: str, garbage: bytes
) -> None:
    with server.channel() as channel:
        assert raw_call(channel, method, garbage) == grpc.StatusCode.INVALID_ARGUMENT
        assert _health(channel)


@pytest.mark.parametrize("method", STRING_FIELD_ONE)
def test_a_string_field_that_is_not_utf8_is_invalid_argument(
    server: ThreadedServer, method: str
) -> None:
    with server.channel() as channel:
        assert raw_call(channel, method, NOT_UTF8) == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("method", STREAMED)
def test_an_undecodable_streamed_message_is_invalid_argument(
    server: ThreadedServer, method: str
) -> None:
    with server.channel() as channel:
        first = drucker_pb2.UploadModelRequest(path="m2", data=b"x").SerializeToString()
        messages = [first if "UploadModel" in method else b"", GARBAGE[0]]
        assert raw_call(channel, method, messages) == grpc.StatusCode.INVALID_ARGUMENT
        assert _health(channel)


def _health(channel: grpc.Channel) -> bool:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return reply.status == health_pb2.HealthCheckResponse.SERVING  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "option",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' * 50_000 + "1" + "}" * 50_000,
        '{"n": ' + "9" * 5000 + "}",
    ],
    ids=["deep-array", "deep-object", "huge-integer"],
)
def test_option_json_too_deep_or_too_long_an_integer_is_invalid_argument(
    server: ThreadedServer, option: str
) -> None:
    with server.channel() as channel:
        with pytest.raises(grpc.RpcError) as caught:
            call(channel, Kind.STRING, Kind.STRING, "x", option)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert _health(channel)


def test_streamed_bytes_past_the_message_limit_are_refused_while_streaming(
    server: ThreadedServer,
) -> None:
    sent: list[int] = []
    chunk = b"x" * (MAX_MESSAGE // 4)

    def chunks() -> Iterator[drucker_pb2.BytesInput]:
        for index in range(200 * 4):  # 200 MiB if nobody stops it
            sent.append(index)
            yield drucker_pb2.BytesInput(input=chunk)

    with server.channel() as channel:
        method = channel.stream_unary(
            "/drucker.DruckerWorker/Predict_Bytes_String",
            request_serializer=drucker_pb2.BytesInput.SerializeToString,
            response_deserializer=drucker_pb2.StringOutput.FromString,
        )
        with pytest.raises(grpc.RpcError) as caught:
            method(chunks(), timeout=30)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "grpc.max_message_bytes" in (caught.value.details() or "")
        assert len(sent) < 100  # refused long before the client had sent it all
        # Just under the limit in all is still answered.
        answer = call(channel, Kind.BYTES, Kind.STRING, b"", chunks=[chunk] * 3)
        assert len(answer.label) == 3 * len(chunk)


def _infer(channel: grpc.Channel, shape: list[int], datatype: str = "FP32", **kw: Any) -> Any:
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="input", datatype=datatype, shape=shape, **kw
    )
    request = pb.ModelInferRequest(model_name="drucker", inputs=[tensor])
    return pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)


@pytest.mark.parametrize(
    "shape",
    [[2**62, 2**62], [2**32, 2**32, 4], [1] * 17, [0, 4], [4, 0], [-1, 4]],
    ids=["overflow-2d", "overflow-3d", "17-dims", "zero-rows", "zero-columns", "negative"],
)
def test_v2_shapes_that_overflow_are_empty_or_too_deep_are_invalid_argument(
    server: ThreadedServer, shape: list[int]
) -> None:
    contents = pb.InferTensorContents(fp32_contents=[1.0, 2.0, 3.0, 4.0])
    with server.channel() as channel:
        with pytest.raises(grpc.RpcError) as caught:
            _infer(channel, shape, contents=contents)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert _health(channel)


def test_v2_bytes_that_are_not_utf8_where_text_is_expected_are_invalid_argument(
    server: ThreadedServer,
) -> None:
    contents = pb.InferTensorContents(bytes_contents=[b"\xff\xfe"])
    parameters = {"content_type": pb.InferParameter(string_param="str")}
    with server.channel() as channel:
        with pytest.raises(grpc.RpcError) as caught:
            _infer(channel, [1], "BYTES", contents=contents, parameters=parameters)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "UTF-8" in (caught.value.details() or "")
