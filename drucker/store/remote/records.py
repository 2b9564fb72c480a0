"""The records of the object-storage backend: one fsspec file system and root, its failures as
drucker errors, and JSON records on it that change only by compare-and-set.

Three strategies, by what the file system offers: on S3 a conditional PUT (``If-Match`` the
ETag read, ``If-None-Match: *`` to create); on a local or mounted file system an exclusive
``flock`` around the read and the write; elsewhere (GCS through gcsfs, which exposes no
precondition on writes) reading back just before writing, which leaves a short window in which
the later of two simultaneous writers wins — the record is still always one that a caller wrote
whole.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import fsspec

from drucker.errors import ConflictError, DruckerError, StoreUnavailableError

CAS_ATTEMPTS = 20
# Fail a call within seconds when the store is down, instead of retrying for minutes.
S3_OPTIONS: dict[str, Any] = {
    "skip_instance_cache": True,  # the endpoint and credentials are read when it is made
    "config_kwargs": {"connect_timeout": 3, "read_timeout": 30, "retries": {"max_attempts": 2}},
}
S3_RETRIES = 2


def redact(url: str) -> str:
    """``url`` without any user or password in it, for logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.hostname or ""))


@contextlib.contextmanager
def remote_errors(action: str) -> Iterator[None]:
    """Any failure of the backend library (network, HTTP, credentials) as a
    :class:`StoreUnavailableError` naming ``action``; drucker's own errors pass unchanged."""
    try:
        yield
    except DruckerError:
        raise
    except Exception as error:  # boto, aiohttp and google errors share no base class
        raise StoreUnavailableError(f"{action}: {error or type(error).__name__}") from None


def _is_precondition_failure(error: BaseException) -> bool:
    if isinstance(error, FileExistsError):
        return True
    response = getattr(error.__cause__, "response", None) or {}
    return bool(response.get("Error", {}).get("Code") == "PreconditionFailed")


class Backend:
    """One fsspec file system and root, with conditional JSON records on it."""

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        self.conditional_writes = bool({"s3", "s3a"} & set(protocols))
        self.local = "file" in protocols

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def read(self, path: str) -> tuple[Any, str | None]:
        """A JSON record and the token a conditional write needs; ``(None, None)`` if absent."""
        fs = self.fs
        try:
            fs.invalidate_cache(path)
            token = str(fs.info(path).get("ETag")) if self.conditional_writes else None
            body = fs.cat_file(path)
        except FileNotFoundError:
            return None, None
        if token is None:
            token = hashlib.sha256(body).hexdigest()
        return json.loads(body), token

    def etag(self, path: str) -> str | None:
        """The record's ETag (a cheap HEAD), when the backend has them."""
        if not self.conditional_writes:
            return None
        try:
            self.fs.invalidate_cache(path)
            return str(self.fs.info(path).get("ETag"))
        except FileNotFoundError:
            return None

    def _write(self, path: str, data: Any, token: str | None) -> None:
        body = json.dumps(data, indent=1, sort_keys=True).encode()
        fs = self.fs
        if self.conditional_writes:
            condition = {"IfMatch": token} if token else {"IfNoneMatch": "*"}
            try:
                fs.pipe_file(path, body, **condition)
            except Exception as error:
                if _is_precondition_failure(error):
                    raise ConflictError(f"{path} changed meanwhile") from None
                raise
            return
        current = self.read(path)[1]
        if current != token:
            raise ConflictError(f"{path} changed meanwhile")
        if self.local:  # write beside it and rename, so no reader sees half a record
            temp = f"{path}.{os.getpid()}-{os.urandom(6).hex()}.tmp"
            fs.pipe_file(temp, body)
            fs.mv(temp, path)
        else:
            fs.pipe_file(path, body)

    @contextlib.contextmanager
    def _exclusive(self, path: str) -> Iterator[None]:
        if not self.local:
            yield
            return
        lock_path = Path(path + ".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def update(self, path: str, change: Callable[[Any], Any]) -> tuple[Any, Any]:
        """Replace the record at ``path`` by ``change(record)`` (``None`` when absent), by
        compare-and-set, retrying on a concurrent change. Returns (old, new).

        ``change`` may raise to give up; the record then stays as it is.
        """
        for attempt in range(CAS_ATTEMPTS):
            with self._exclusive(path):
                old, token = self.read(path)
                new = change(old)
                try:
                    self._write(path, new, token)
                except ConflictError:
                    time.sleep(min(0.01 * 2**attempt, 0.5))
                    continue
            return old, new
        raise ConflictError(f"{path} kept changing; gave up after {CAS_ATTEMPTS} attempts")


def open_backend(url: str) -> Backend:
    """The file system and root of a store URL (``s3://bucket/prefix``, ``gs://…``,
    ``file:///path``). :raises StoreUnavailableError: for a scheme fsspec cannot serve."""
    scheme = urlsplit(url).scheme
    options = S3_OPTIONS if scheme in ("s3", "s3a") else {}
    if scheme == "file":
        options = {"auto_mkdir": True}
    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
    except (ImportError, ValueError) as error:
        raise StoreUnavailableError(
            f"store.url {redact(url)}: {error} (install drucker[s3] or drucker[gcs])"
        ) from None
    if options is S3_OPTIONS:
        fs.retries = S3_RETRIES
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        fs.makedirs(root, exist_ok=True)
    return Backend(fs, root)
