"""A lean HTTP/1.1 keep-alive client for the load generator (one connection, one request at a
time), so that the generator's own cost per request stays well below the servers'."""

from __future__ import annotations

import asyncio


class HttpStatusError(Exception):
    """The server answered with a status other than 200."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class HttpConnection:
    """POSTs JSON over one persistent connection, reconnecting after a failure."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._prefix = f"Host: {host}:{port}\r\nContent-Type: application/json\r\n".encode()

    async def post(self, path: str, body: bytes) -> bytes:
        """The answer's body; :class:`HttpStatusError` for a status other than 200."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        head = f"POST {path} HTTP/1.1\r\n".encode()
        length = f"Content-Length: {len(body)}\r\n\r\n".encode()
        self._writer.write(head + self._prefix + length + body)
        try:
            header = await self._reader.readuntil(b"\r\n\r\n")
            status = int(header[9:12])
            answer = await self._reader.readexactly(_content_length(header))
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            raise
        if status != 200:
            raise HttpStatusError(status)
        return answer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _content_length(header: bytes) -> int:
    start = header.lower().find(b"\r\ncontent-length:")
    if start < 0:
        raise ConnectionError("an answer without Content-Length")
    end = header.find(b"\r\n", start + 2)
    return int(header[start + 17 : end])
