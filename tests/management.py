"""Raw-stub helpers for the management rpcs (the tests check the wire, not a client)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

from drucker._wire import drucker_pb2, drucker_pb2_grpc

CHUNK = 32 * 1024


def auth(token: str | None) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")] if token else []


def chunks_of(data: bytes, name: str, field: str = "path") -> Iterator[Any]:
    message = (
        drucker_pb2.UploadModelRequest
        if field == "path"
        else drucker_pb2.UploadEvaluationDataRequest
    )
    for start in range(0, max(len(data), 1), CHUNK):
        yield message(**{field: name, "data": data[start : start + CHUNK]})


def upload_model(
    channel: grpc.Channel, name: str, data: bytes, token: str | None, sha256: str | None = None
) -> Any:
    metadata = auth(token) + ([("x-drucker-sha256", sha256)] if sha256 else [])
    stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
    return stub.UploadModel(chunks_of(data, name), metadata=metadata, timeout=60)


def upload_data(channel: grpc.Channel, name: str, path: Path, token: str | None) -> Any:
    stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
    requests = chunks_of(path.read_bytes(), name, field="data_path")
    return stub.UploadEvaluationData(requests, metadata=auth(token), timeout=60)


def switch_model(channel: grpc.Channel, name: str, token: str | None) -> Any:
    stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
    return stub.SwitchModel(
        drucker_pb2.SwitchModelRequest(path=name), metadata=auth(token), timeout=60
    )


def list_models(channel: grpc.Channel, token: str | None) -> Any:
    stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
    return stub.ListModels(drucker_pb2.ListModelsRequest(), metadata=auth(token), timeout=10)


def service_info(channel: grpc.Channel, token: str | None = None) -> Any:
    stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
    return stub.ServiceInfo(drucker_pb2.ServiceInfoRequest(), metadata=auth(token), timeout=10)


def evaluate(channel: grpc.Channel, data: str, result: str, token: str | None) -> Any:
    stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
    request = drucker_pb2.EvaluateModelRequest(data_path=data, result_path=result)
    return stub.EvaluateModel(iter([request]), metadata=auth(token), timeout=120)


def evaluation_result(channel: grpc.Channel, result: str, token: str | None) -> list[Any]:
    stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
    request = drucker_pb2.EvaluationResultRequest(result_path=result)
    return list(stub.EvaluationResult(request, metadata=auth(token), timeout=120))
