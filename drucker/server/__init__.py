"""The gRPC server that hosts the protocol adapters over one runtime."""

from drucker.server.grpc_server import DruckerServer

__all__ = ["DruckerServer"]
