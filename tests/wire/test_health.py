"""Both health services follow the runtime's state; reflection lists the services."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from drucker._wire import drucker_pb2, drucker_pb2_grpc
from tests.serving import ThreadedServer, loading

STANDARD = health_pb2.HealthCheckResponse
DRUCKER = drucker_pb2.HealthCheckResponse


def statuses(channel: grpc.Channel) -> tuple[int, int]:
    standard = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=5
    )
    ours = drucker_pb2_grpc.HealthStub(channel).Check(
        drucker_pb2.HealthCheckRequest(service=""), timeout=5
    )
    return standard.status, ours.status


def test_serving_only_once_the_model_is_loaded(echo_model: Path) -> None:
    with loading(echo_model) as (server, plugin, channel):
        assert statuses(channel) == (STANDARD.NOT_SERVING, DRUCKER.NOT_SERVING)
        plugin.release.set()
        server.wait_ready()
        assert statuses(channel) == (STANDARD.SERVING, DRUCKER.SERVING)
        service = health_pb2.HealthCheckRequest(service="drucker.DruckerWorker")
        reply = health_pb2_grpc.HealthStub(channel).Check(service, timeout=5)
        assert reply.status == STANDARD.SERVING


def test_reflection_lists_the_services(echo_server: ThreadedServer) -> None:
    with echo_server.channel() as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(iter(stub.ServerReflectionInfo(iter([request]), timeout=5)))
    names = {service.name for service in reply.list_services_response.service}
    assert {
        "drucker.DruckerWorker",
        "drucker.DruckerDashboard",
        "drucker.Health",
        "grpc.health.v1.Health",
    } <= names


def test_service_info(echo_server: ThreadedServer) -> None:
    with echo_server.channel() as channel:
        stub = drucker_pb2_grpc.DruckerDashboardStub(channel)
        info = stub.ServiceInfo(drucker_pb2.ServiceInfoRequest(), timeout=5)
    assert (info.application_name, info.service_name, info.service_level) == (
        "drucker",
        "default",
        "development",
    )


def test_unknown_service_health_is_not_found(echo_server: ThreadedServer) -> None:
    with echo_server.channel() as channel, pytest.raises(grpc.RpcError) as caught:
        health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5
        )
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
