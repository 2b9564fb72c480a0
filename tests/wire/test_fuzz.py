"""Fuzzing every rpc of every service of a real server with generated messages and random bytes.

Each case sends one request (or a stream of them), with or without the token, as generated
fields of the rpc's message type, as such a message cut off or with bytes flipped, or as
random bytes. The answer's status must be one a careful server gives: never ``UNKNOWN``, and
``INTERNAL`` only where the plugin failed. Afterwards the server is healthy and its memory
bounded. ``DRUCKER_FUZZ_EXAMPLES`` sets the number of cases (``nox -s fuzz`` runs many more).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drucker._wire import drucker_pb2, grpc_predict_v2_pb2
from tests.conftest import IN_CI
from tests.hostile import rss_bytes
from tests.management import auth
from tests.serving import ThreadedServer, echo_server_in

EXAMPLES = int(os.environ.get("DRUCKER_FUZZ_EXAMPLES", "3000"))  # about 40 s on 2 cores
TOKEN = "fuzz-token"
MAX_MESSAGE = 256 * 1024
PLUGIN_FAILED = "the model failed"  # the text of a PluginFailure (the plugin raised)
CASES: list[grpc.StatusCode] = []


def _methods() -> list[MethodDescriptor]:
    descriptors = (
        drucker_pb2.DESCRIPTOR,
        grpc_predict_v2_pb2.DESCRIPTOR,
        health_pb2.DESCRIPTOR,
        reflection_pb2.DESCRIPTOR,
    )
    return [
        method
        for descriptor in descriptors
        for service in descriptor.services_by_name.values()
        for method in service.methods
    ]


METHODS = _methods()
_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_STRING: st.text(max_size=40)
    | st.sampled_from(["{}", '{"raise": "value"}', "drucker", "iris", "a.model", "..", "/etc"]),
    FieldDescriptor.TYPE_BYTES: st.binary(max_size=64),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_DOUBLE: st.floats(),
    FieldDescriptor.TYPE_FLOAT: st.floats(width=32),
    FieldDescriptor.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
}


def _field_value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.GetOptions().map_entry:
            return st.none()  # maps are left empty
        return messages(field.message_type, depth + 1)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return st.sampled_from([value.number for value in list(field.enum_type.values)])
    if field.name == "shape":
        return st.integers(-2, 2**62)
    return _SCALARS.get(field.type, st.none())


@st.composite
def _message(draw: st.DrawFn, descriptor: Descriptor, depth: int) -> bytes:
    from google.protobuf.message_factory import GetMessageClass

    message = GetMessageClass(descriptor)()
    if depth > 3:
        return bytes(message.SerializeToString())
    known = list(descriptor.fields)
    fields = draw(st.lists(st.sampled_from(known), max_size=4, unique=True)) if known else []
    for field in fields:
        strategy = _field_value(field, depth)
        if field.is_repeated:
            values = draw(st.lists(strategy, max_size=4))
            for value in values:
                if value is None:
                    continue
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    getattr(message, field.name).add().MergeFromString(value)
                else:
                    getattr(message, field.name).append(value)
            continue
        value = draw(strategy)
        if value is None:
            continue
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(message, field.name).MergeFromString(value)
        else:
            setattr(message, field.name, value)
    return bytes(message.SerializeToString())


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[bytes]:
    """Serialized messages of ``descriptor`` with generated fields."""
    return _message(descriptor, depth)


@st.composite
def _damaged(draw: st.DrawFn, descriptor: Descriptor) -> bytes:
    data = bytearray(draw(messages(descriptor)))
    if not data:
        return draw(st.binary(min_size=1, max_size=32))
    if draw(st.booleans()):
        return bytes(data[: draw(st.integers(0, len(data) - 1))])  # cut off
    index = draw(st.integers(0, len(data) - 1))
    data[index] ^= draw(st.integers(1, 255))  # a flipped byte
    return bytes(data)


def payloads(descriptor: Descriptor) -> st.SearchStrategy[bytes]:
    """Well-formed, damaged or random request bytes for a message type."""
    return messages(descriptor) | _damaged(descriptor) | st.binary(max_size=256)


@st.composite
def cases(draw: st.DrawFn) -> tuple[MethodDescriptor, list[bytes], bool]:
    method = draw(st.sampled_from(METHODS))
    count = draw(st.integers(1, 3)) if method.client_streaming else 1
    sent = [draw(payloads(method.input_type)) for _ in range(count)]
    return method, sent, draw(st.booleans())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    options = {"management_token": TOKEN, "max_message_bytes": MAX_MESSAGE}
    with echo_server_in(tmp_path_factory.mktemp("fuzz"), options) as server:
        yield server


@pytest.fixture(scope="module")
def channel(server: ThreadedServer) -> Iterator[grpc.Channel]:
    with server.channel() as channel:
        yield channel


def send(
    channel: grpc.Channel, method: MethodDescriptor, sent: list[bytes], token: bool
) -> tuple[grpc.StatusCode, str]:
    """Call the rpc with raw bytes; its status code and details."""
    name = f"/{method.containing_service.full_name}/{method.name}"
    streamed = (method.client_streaming, method.server_streaming)
    sending, answering = ("stream" if streaming else "unary" for streaming in streamed)
    factory = getattr(channel, f"{sending}_{answering}")  # e.g. channel.unary_stream
    request: Any = iter(sent) if method.client_streaming else sent[0]
    timeout = 0.5 if method.name == "Watch" else 10  # Watch streams until cancelled
    try:
        answer = factory(name)(request, metadata=auth(TOKEN if token else None), timeout=timeout)
        if method.server_streaming:
            for _ in answer:
                pass
    except grpc.RpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


def acceptable(method: MethodDescriptor, code: grpc.StatusCode, details: str) -> bool:
    """Whether a careful server may answer ``code`` here."""
    if code is grpc.StatusCode.UNKNOWN:
        return False
    if code is grpc.StatusCode.INTERNAL:
        return details.startswith(PLUGIN_FAILED)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return method.name == "Watch"
    return True


@settings(
    max_examples=EXAMPLES,
    derandomize=IN_CI,  # CI replays one fixed set of cases; `nox -s fuzz` explores anew
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(case=cases())
def test_every_rpc_answers_hostile_input_with_an_expected_status(
    channel: grpc.Channel, case: tuple[MethodDescriptor, list[bytes], bool]
) -> None:
    method, sent, token = case
    code, details = send(channel, method, sent, token)
    CASES.append(code)
    assert acceptable(method, code, details), (method.full_name, code, details)


def test_the_server_is_healthy_and_bounded_after_the_fuzzing(channel: grpc.Channel) -> None:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert rss_bytes(os.getpid()) < 1024 * 1024 * 1024
    codes = {code.name: CASES.count(code) for code in set(CASES)}
    print(f"\nfuzz: {len(CASES)} cases over {len(METHODS)} rpcs; status codes {codes}")
