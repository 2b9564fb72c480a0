"""OpenTelemetry spans of ``drucker serve``, exported over OTLP to a receiver in the test."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from drucker._wire import drucker_pb2
from drucker._wire import grpc_predict_v2_pb2 as pb
from drucker._wire import grpc_predict_v2_pb2_grpc as pb_grpc
from drucker.kinds import Kind
from tests.calls import call
from tests.conftest import ECHO_PLUGIN
from tests.serving import ServeProcess, free_port

trace_service = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc",
    reason="the otel extra is not installed",
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: E402

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Receiver(trace_service.TraceServiceServicer):  # type: ignore[misc]
    """Keeps every span exported to it, with its service name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def Export(self, request: Any, context: Any) -> Any:
        with self._lock:
            for resource_spans in request.resource_spans:
                attributes = _attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    self.spans += [(attributes["service.name"], s) for s in scope_spans.spans]
        return trace_service_pb2.ExportTraceServiceResponse()


def _attributes(pairs: Any) -> dict[str, Any]:
    values = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        values[pair.key] = getattr(pair.value, kind) if kind else None
    return values


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    receiver = Receiver()
    server = grpc.server(ThreadPoolExecutor(4))
    trace_service.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield receiver, port
    server.stop(0)


def test_rpcs_and_predictions_are_traced(
    tmp_path: Path, echo_model: Path, receiver: tuple[Receiver, int]
) -> None:
    collected, otlp_port = receiver
    port = free_port()
    server = ServeProcess(
        ["--plugin", ECHO_PLUGIN, "--model", str(echo_model), "--port", str(port)],
        cwd=tmp_path,
        env={
            "DRUCKER_APPLICATION_NAME": "traced",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
        },
    )
    try:
        server.wait_serving(port)
        traceparent = [("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01")]
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            worker = channel.unary_unary(
                "/drucker.DruckerWorker/Predict_String_String",
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=lambda b: b,
            )
            worker(drucker_pb2.StringInput(input="traced"), metadata=traceparent, timeout=10)
            with pytest.raises(grpc.RpcError):
                call(channel, Kind.STRING, Kind.STRING, "x", json.dumps({"raise": "value"}))
            request = pb.ModelInferRequest(model_name="traced")
            tensor = request.inputs.add(name="input", datatype="BYTES", shape=[2])
            tensor.contents.bytes_contents.extend([b"a", b"b"])
            pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    finally:
        assert server.terminate() == 0, server.stderr  # the exporter flushes on the way out

    spans = {}
    for service, span in collected.spans:
        assert service == "traced"
        spans.setdefault(span.name, []).append(span)
    assert not [name for name in spans if "Health" in name], "health rpcs are not traced"

    ok, failed = sorted(
        spans["/drucker.DruckerWorker/Predict_String_String"],
        key=lambda s: _attributes(s.attributes)["rpc.grpc.status_code"],
    )
    attributes = _attributes(ok.attributes)
    assert attributes["rpc.system"] == "grpc"
    assert attributes["rpc.service"] == "drucker.DruckerWorker"
    assert attributes["rpc.method"] == "Predict_String_String"
    assert attributes["rpc.grpc.status_code"] == 0
    assert ok.trace_id.hex() == TRACE_ID and ok.parent_span_id.hex() == PARENT_ID
    assert _attributes(failed.attributes)["rpc.grpc.status_code"] == 3  # INVALID_ARGUMENT
    # INVALID_ARGUMENT is the caller's error: the server span's status stays unset
    # (OpenTelemetry's gRPC conventions); the prediction span below records the failure.
    assert failed.trace_id.hex() != TRACE_ID  # no incoming context: a new trace

    (v2,) = spans["/inference.GRPCInferenceService/ModelInfer"]
    by_parent = {span.parent_span_id: span for span in spans["drucker.predict"]}
    assert len(by_parent) == 3
    for rpc_span, input_kind, rows in ((ok, "String", 1), (failed, "String", 1), (v2, "Bytes", 2)):
        child = by_parent[rpc_span.span_id]
        assert child.trace_id == rpc_span.trace_id
        details = _attributes(child.attributes)
        assert details["drucker.model.name"] == echo_model.name
        assert (
            details["drucker.model.sha256"] == hashlib.sha256(echo_model.read_bytes()).hexdigest()
        )
        assert details["drucker.input_kind"] == input_kind
        assert details["drucker.output_kind"] == "String"
        assert details["drucker.rows"] == rows
    assert by_parent[failed.span_id].status.code == 2
