"""An S3 API server on loopback for the tests: moto's server mode, spoken to over HTTP by the
real s3fs/boto clients (nothing is patched). It can be stopped and started again on the same
port, keeping its buckets, to play an outage."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer

from tests.serving import free_port


class S3Server:
    """A moto S3 server; :attr:`env` holds what a client process needs to reach it."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: ThreadedMotoServer | None = None
        self.env = {
            "AWS_ACCESS_KEY_ID": "drucker-test",
            "AWS_SECRET_ACCESS_KEY": "drucker-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.port}",
        }

    def start(self) -> S3Server:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def new_bucket(self) -> str:
        """A fresh, empty bucket; its ``s3://`` URL."""
        import boto3

        name = f"drucker-{uuid.uuid4().hex[:12]}"
        client = boto3.client("s3", endpoint_url=self.env["AWS_ENDPOINT_URL"])
        client.create_bucket(Bucket=name)
        return f"s3://{name}"

    @contextmanager
    def down(self) -> Iterator[None]:
        """The server is stopped for the block, then started again on the same port."""
        self.stop()
        try:
            yield
        finally:
            self.start()


@contextmanager
def s3_environment(server: S3Server) -> Iterator[None]:
    """This process's environment points the S3 clients at ``server`` for the block."""
    saved = {key: os.environ.get(key) for key in server.env}
    os.environ.update(server.env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def running_s3() -> Iterator[S3Server]:
    """A started S3 server, with this process's environment pointing at it."""
    server = S3Server().start()
    try:
        with s3_environment(server):
            yield server
    finally:
        server.stop()
