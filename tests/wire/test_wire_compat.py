"""Wire compatibility with drucker 0.4.5: the descriptor, and a 0.4.5 client against our server."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2

from drucker._wire import drucker_pb2
from tests.compat.drucker045 import Drucker045, load_drucker045
from tests.serving import ThreadedServer

IRIS_ROWS = {
    "setosa": [5.1, 3.5, 1.4, 0.2],
    "versicolor": [6.4, 3.2, 4.5, 1.5],
    "virginica": [7.7, 3.0, 6.1, 2.3],
}


@pytest.fixture(scope="module")
def old() -> Drucker045:
    return load_drucker045()


def ours() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    drucker_pb2.DESCRIPTOR.CopyToProto(proto)
    return proto


def _fields(message: descriptor_pb2.DescriptorProto) -> dict[int, tuple[Any, ...]]:
    return {f.number: (f.name, f.type, f.label, f.type_name) for f in message.field}


def _messages(proto: Any, prefix: str = "") -> dict[str, descriptor_pb2.DescriptorProto]:
    found = {}
    for message in proto.message_type if prefix == "" else proto.nested_type:
        name = f"{prefix}{message.name}"
        found[name] = message
        found.update(_messages(message, name + "."))
    return found


def test_same_package_messages_and_field_numbers(old: Drucker045) -> None:
    new = ours()
    assert new.package == old.proto.package == "drucker"
    new_messages = _messages(new)
    for name, message in _messages(old.proto).items():
        assert name in new_messages, f"message {name} is missing"
        new_fields = _fields(new_messages[name])
        for number, field in _fields(message).items():
            assert new_fields.get(number) == field, f"{name} field {number} differs"
    new_enums = {e.name: [(v.name, v.number) for v in e.value] for e in new.enum_type}
    for enum in old.proto.enum_type:
        assert new_enums[enum.name] == [(v.name, v.number) for v in enum.value]


def test_same_services_methods_and_streaming_shapes(old: Drucker045) -> None:
    def methods(proto: Any) -> dict[str, tuple[Any, ...]]:
        return {
            f"{s.name}/{m.name}": (
                m.input_type,
                m.output_type,
                m.client_streaming,
                m.server_streaming,
            )
            for s in proto.service
            for m in s.method
        }

    new_methods = methods(ours())
    old_methods = methods(old.proto)
    assert len([m for m in old_methods if m.startswith("DruckerWorker/")]) == 25
    for name, shape in old_methods.items():
        assert new_methods.get(name) == shape, f"{name} differs"


def _request(old: Drucker045, kind: str, value: Any) -> Any:
    return old.messages[f"{kind}Input"](input=value, option=old.messages["Option"](val="{}"))


@pytest.mark.parametrize(("species", "row"), IRIS_ROWS.items())
def test_a_0_4_5_client_gets_iris_predictions(
    old: Drucker045, iris_server: ThreadedServer, species: str, row: list[float]
) -> None:
    with iris_server.channel() as channel:
        string = old.method(channel, "DruckerWorker", "Predict_ArrFloat_String")(
            _request(old, "ArrFloat", row), timeout=10
        )
        assert string.output == species and 0.5 < string.score <= 1
        ranked = old.method(channel, "DruckerWorker", "Predict_ArrFloat_ArrString")(
            _request(old, "ArrFloat", row), timeout=10
        )
        assert ranked.output[0] == species
        assert list(ranked.score) == sorted(ranked.score, reverse=True)
        assert sum(ranked.score) == pytest.approx(1, abs=1e-5)
        numeric = old.method(channel, "DruckerWorker", "Predict_ArrFloat_ArrFloat")(
            _request(old, "ArrFloat", row), timeout=10
        )
        # Class indices ranked by probability; iris classes are sorted by name.
        assert numeric.output[0] == sorted(IRIS_ROWS).index(species)
        assert list(numeric.score) == pytest.approx(list(ranked.score))
        text = ",".join(str(v) for v in row).encode()
        stream_in = old.method(channel, "DruckerWorker", "Predict_Bytes_String")(
            iter([old.messages["BytesInput"](input=text, option=old.messages["Option"](val="{}"))]),
            timeout=10,
        )
        assert stream_in.output == species
        both = list(
            old.method(channel, "DruckerWorker", "Predict_Bytes_Bytes")(
                iter([old.messages["BytesInput"](input=text)]), timeout=10
            )
        )
        assert [m.output for m in both] == [species.encode()]
        stream_out = list(
            old.method(channel, "DruckerWorker", "Predict_ArrFloat_Bytes")(
                _request(old, "ArrFloat", row), timeout=10
            )
        )
        assert stream_out[0].output == species.encode()
        assert json.loads(stream_out[0].option.val) == {}


def test_a_0_4_5_client_reads_service_info_and_health(
    old: Drucker045, iris_server: ThreadedServer
) -> None:
    with iris_server.channel() as channel:
        info = old.method(channel, "DruckerDashboard", "ServiceInfo")(
            old.messages["ServiceInfoRequest"](), timeout=10
        )
        health = old.method(channel, "Health", "Check")(
            old.messages["HealthCheckRequest"](), timeout=10
        )
    assert info.service_level == "development"
    assert health.status == old.messages["HealthCheckResponse"].SERVING


def test_errors_are_real_statuses_for_old_clients(
    old: Drucker045, iris_server: ThreadedServer
) -> None:
    """0.4.5 answered bad input with a silent default ('None', 0.0); we answer an error."""
    with iris_server.channel() as channel, pytest.raises(grpc.RpcError) as caught:
        old.method(channel, "DruckerWorker", "Predict_ArrFloat_String")(
            _request(old, "ArrFloat", [1.0, 2.0]), timeout=10
        )
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
