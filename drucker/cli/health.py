"""``drucker health``: ask a server's standard gRPC health service (exit 0 when SERVING)."""

from __future__ import annotations

import sys

import click

from drucker.cli._target import target_option


@click.command()
@target_option
@click.option("--service", default="", help="The service to ask about ('' = the server).")
@click.option("--timeout", default=3.0, show_default=True, help="Seconds to wait.")
def health(target: str, service: str, timeout: float) -> None:
    """Exit 0 when the server reports SERVING, 1 otherwise (for HEALTHCHECK and probes)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as error:
            click.echo(f"{target}: {error.code().name}: {error.details()}", err=True)
            sys.exit(1)
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    click.echo(name)
    sys.exit(0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1)
