"""A client built from the published drucker 0.4.5 wheel's protobuf descriptor.

The wheel's generated module cannot be imported with a current protobuf, so this reads the
serialized FileDescriptorProto out of it (without executing it), builds message classes with
the installed protobuf, and calls rpcs by their 0.4.5 paths. The wheel is downloaded from PyPI
once into a cache directory (``$DRUCKER_TEST_CACHE``, default ``~/.cache/drucker-tests``).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

WHEEL = "drucker-0.4.5-py2.py3-none-any.whl"
PB2_PATH = "drucker/protobuf/drucker_pb2.py"


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "drucker-tests"
    path = Path(os.environ.get("DRUCKER_TEST_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def wheel_path() -> Path:
    """The drucker 0.4.5 wheel, downloaded from PyPI on first use."""
    path = cache_dir() / WHEEL
    if not path.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "drucker==0.4.5",
                "-d",
                str(cache_dir()),
            ],
            check=True,
            capture_output=True,
        )
    return path


def serialized_descriptor(source: str) -> bytes:
    """The ``serialized_pb`` literal of a protoc-generated module, read with ``ast``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == "serialized_pb":
            value = node.value
            if isinstance(value, ast.Call):  # _b('...') in old generated code
                value = value.args[0]
            literal = ast.literal_eval(value)
            return literal.encode("latin-1") if isinstance(literal, str) else bytes(literal)
    raise ValueError("no serialized_pb in the generated module")


class Drucker045:
    """Message classes and method callers of the 0.4.5 protocol."""

    def __init__(self, file_descriptor: descriptor_pb2.FileDescriptorProto) -> None:
        pool = descriptor_pool.DescriptorPool()
        pool.AddSerializedFile(descriptor_pb2.DESCRIPTOR.serialized_pb)
        self.file = pool.Add(file_descriptor)
        self.proto = file_descriptor
        self.messages: dict[str, Any] = {
            name: message_factory.GetMessageClass(descriptor)
            for name, descriptor in self.file.message_types_by_name.items()
        }

    def method(self, channel: grpc.Channel, service: str, name: str) -> Any:
        """A callable for ``/drucker.<service>/<name>`` with the 0.4.5 streaming shape."""
        method = self.file.services_by_name[service].methods_by_name[name]
        request = self.messages[method.input_type.name]
        response = self.messages[method.output_type.name]
        shape = {
            (False, False): channel.unary_unary,
            (False, True): channel.unary_stream,
            (True, False): channel.stream_unary,
            (True, True): channel.stream_stream,
        }[(method.client_streaming, method.server_streaming)]
        return shape(
            f"/drucker.{service}/{name}",
            request_serializer=request.SerializeToString,
            response_deserializer=response.FromString,
        )


@cache
def load_drucker045() -> Drucker045:
    """The 0.4.5 protocol, read from the published wheel."""
    with zipfile.ZipFile(wheel_path()) as wheel:
        source = wheel.read(PB2_PATH).decode("utf-8")
    proto = descriptor_pb2.FileDescriptorProto.FromString(serialized_descriptor(source))
    return Drucker045(proto)
