"""The object-storage backend of the model store, through fsspec (S3 via s3fs, GCS via gcsfs,
``file://`` for a shared volume), so the replicas of one service share models, data, the
active-model record and the switch history.

Layout under ``<store.url>/<app.name>/``::

    models/objects/<sha256>     model bytes, immutable, content-addressed
    models/index.json           names -> {name, size, sha256, stored_at}
    models/active.json          the active-model record {name, sha256, generation, switched_at}
    models/history/<ns>-<id>.json  one object per switch
    data/objects/<sha256>       evaluation data, the same way
    data/index.json
    results/                    evaluation results (:mod:`drucker.store.remote_results`)

The index and the active record change only by compare-and-set: on S3 a conditional PUT
(``If-Match`` the ETag read, ``If-None-Match: *`` to create); on a local or mounted file system
under an exclusive ``flock``; elsewhere (GCS through gcsfs, which exposes no precondition on
writes) by reading back just before writing, which leaves a short window in which the later of
two simultaneous writers wins — the record is still always one that a caller wrote whole.

Uploads are spooled to the replica's cache directory while they stream in (the model is never
held in memory), hashed, then put into the store (multipart on S3, done by s3fs) under their
digest; only then is the name added to the index, so an interrupted upload leaves no index
entry. Objects are downloaded into the local :class:`ObjectCache`, verified, and loaded from
there.

Credentials and endpoints come from the provider's standard environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``GOOGLE_APPLICATION_CREDENTIALS`` …), never
from drucker's settings.
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
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import attrs
import fsspec

from drucker.errors import (
    AlreadyExistsError,
    ConflictError,
    DruckerError,
    InUseError,
    NotFoundError,
    StoreUnavailableError,
)
from drucker.store.base import ActiveRecord, SwitchEvent
from drucker.store.cache import ObjectCache
from drucker.store.files import StoredFile
from drucker.store.history import event_from_json, event_to_json
from drucker.store.names import validate_name
from drucker.store.receiving import Receiving

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


class RemoteUpload(Receiving):
    """An upload spooled to local disk while it streams in, then put under its digest."""

    def __init__(self, files: RemoteFiles, name: str, max_bytes: int, replace_active: bool):
        self._files = files
        self.name = name
        self._max_bytes = max_bytes
        self._replace_active = replace_active
        self._start_receiving()
        spool = files.cache.directory / "spool"
        spool.mkdir(parents=True, exist_ok=True)
        self._path = spool / f"{os.getpid()}-{os.urandom(6).hex()}"
        self._handle: IO[bytes] | None = self._path.open("xb")

    def commit(self, expected_sha256: str | None = None) -> StoredFile:
        """Verify, put the object into the store (if it is not there yet), then index it."""
        sha256 = self._verified_sha256(expected_sha256)
        assert self._handle is not None
        self._handle.close()
        self._handle = None
        files = self._files
        with remote_errors(f"cannot store {self.name}"):
            target = files.object_path(sha256)
            files.backend.fs.invalidate_cache(target)
            if not files.backend.fs.exists(target):
                files.backend.fs.put_file(str(self._path), target)
            stored = StoredFile(self.name, self.size, sha256, time.time())
            files.add(stored, self._replace_active)
        return stored

    def abort(self) -> None:
        """Drop the spooled bytes; the store is left as it was."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    def __enter__(self) -> RemoteUpload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class RemoteFiles:
    """Named files in object storage: immutable objects by digest and an index of names."""

    def __init__(self, backend: Backend, kind: str, what: str, cache: ObjectCache) -> None:
        self.backend = backend
        self.kind = kind
        self.what = what
        self.cache = cache
        self.location = backend.path(kind)
        self._index = backend.path(kind, "index.json")

    def object_path(self, sha256: str) -> str:
        return self.backend.path(self.kind, "objects", sha256)

    def _files(self) -> dict[str, Any]:
        with remote_errors(f"cannot read the {self.what} index"):
            index = self.backend.read(self._index)[0] or {}
        return dict(index.get("files", {}))

    def list(self) -> list[StoredFile]:
        """Every stored file, by name."""
        files = self._files()
        return [StoredFile(**files[name]) for name in sorted(files)]

    def get(self, name: str) -> StoredFile:
        """One stored file. :raises NotFoundError: when there is none by that name."""
        validate_name(name, f"{self.what} name")
        entry = self._files().get(name)
        if entry is None:
            raise NotFoundError(f"no {self.what} named {name!r}")
        return StoredFile(**entry)

    def path(self, name: str) -> Path:
        """A verified local copy of the stored file ``name``."""
        stored = self.get(name)
        return self.fetch(stored.sha256, stored.name)

    def fetch(self, sha256: str, name: str) -> Path:
        """A verified local copy of the object ``sha256`` (downloaded once per cache)."""
        source = self.object_path(sha256)

        def download(target: Path) -> None:
            with remote_errors(f"cannot download {name}"):
                try:
                    self.backend.fs.get_file(source, str(target))
                except FileNotFoundError:
                    raise NotFoundError(f"the store has no object {sha256} ({name})") from None

        return self.cache.get(sha256, name, download)

    def begin(
        self,
        name: str,
        max_bytes: int,
        *,
        replace_active: bool = False,
        serving: Callable[[], str | None] | None = None,
    ) -> RemoteUpload:
        """Start receiving a file. :raises InvalidNameError: for an unsafe name.

        ``serving`` is not needed here: a model serves from its digest, which no upload
        changes.
        """
        validate_name(name, f"{self.what} name")
        return RemoteUpload(self, name, max_bytes, replace_active)

    def _refuse_replacing(self, name: str) -> None:
        """Hook for the model store: refuse to index ``name`` anew while it is active."""

    def _refuse_deleting(self, name: str) -> None:
        """Hook for the model store: refuse to delete ``name`` while it is active."""

    def delete(self, name: str) -> StoredFile:
        """Remove ``name`` from the index (compare-and-set); its object stays, as other names
        may share it. :raises NotFoundError: when there is none by that name."""
        stored = self.get(name)

        def change(index: Any) -> Any:
            index = dict(index or {})
            files = dict(index.get("files", {}))
            if name not in files:
                raise NotFoundError(f"no {self.what} named {name!r}")
            self._refuse_deleting(name)
            del files[name]
            return {**index, "files": files}

        with remote_errors(f"cannot delete {name}"):
            self.backend.update(self._index, change)
        return stored

    def add(self, stored: StoredFile, replace_active: bool) -> None:
        """Index ``stored`` under its name (compare-and-set)."""

        def change(index: Any) -> Any:
            index = dict(index or {})
            files = dict(index.get("files", {}))
            if not replace_active:
                self._refuse_replacing(stored.name)
            files[stored.name] = attrs.asdict(stored)
            return {**index, "files": files}

        with remote_errors(f"cannot index {stored.name}"):
            self.backend.update(self._index, change)


def _record_of(data: Any) -> ActiveRecord | None:
    if not data:
        return None
    return ActiveRecord(
        data["name"], data["sha256"], int(data.get("generation", 0)), data.get("switched_at", 0.0)
    )


class RemoteModelStore(RemoteFiles):
    """Models in object storage, with the shared active-model record and switch history."""

    def __init__(self, backend: Backend, cache: ObjectCache) -> None:
        super().__init__(backend, "models", "model", cache)
        self._active_path = backend.path("models", "active.json")
        self._history = backend.path("models", "history")
        self._seen: tuple[str | None, ActiveRecord | None] = (None, None)

    def _refuse_replacing(self, name: str) -> None:
        if self.active == name:
            raise AlreadyExistsError(f"{name} is the serving model; upload another name")

    def _refuse_deleting(self, name: str) -> None:
        if self.active == name:
            raise InUseError(f"{name} is the active model; switch to another first")

    @property
    def active(self) -> str | None:
        record = self.active_record()
        return record.name if record else None

    def active_record(self) -> ActiveRecord | None:
        """The record as stored now: a HEAD per call, a GET only when it changed."""
        with remote_errors("cannot read the active-model record"):
            etag = self.backend.etag(self._active_path)
            seen_etag, seen = self._seen
            if etag is not None and etag == seen_etag:
                return seen
            if etag is None and self.backend.conditional_writes:
                return None  # no record yet (the HEAD said so; no GET needed)
            data, token = self.backend.read(self._active_path)
            record = _record_of(data)
            self._seen = (token, record)
        return record

    @contextlib.contextmanager
    def checkout(self, name: str, sha256: str | None = None) -> Iterator[tuple[StoredFile, Path]]:
        """The verified cached copy of ``name`` (or of digest ``sha256`` stored as ``name``)."""
        validate_name(name, "model name")
        if sha256 is None:
            stored = self.get(name)
        else:
            entry = self._files().get(name)
            stored = StoredFile(**entry) if entry else StoredFile(name, 0, sha256, 0.0)
            if stored.sha256 != sha256:  # a later upload reused the name; the object stays
                stored = StoredFile(name, 0, sha256, 0.0)
        yield stored, self.fetch(stored.sha256, stored.name)

    def set_active(self, stored: StoredFile) -> ActiveRecord | None:
        """Point the active record at ``stored``'s digest; return the record it replaced."""

        def change(data: Any) -> Any:
            previous = _record_of(data)
            return {
                "name": stored.name,
                "sha256": stored.sha256,
                "generation": (previous.generation + 1) if previous else 1,
                "switched_at": time.time(),
            }

        with remote_errors("cannot record the active model"):
            old, _new = self.backend.update(self._active_path, change)
        return _record_of(old)

    def record_switch(self, event: SwitchEvent) -> None:
        name = f"{time.time_ns():020d}-{os.urandom(4).hex()}.json"
        with remote_errors("cannot record the switch history"):
            self.backend.fs.pipe_file(f"{self._history}/{name}", event_to_json(event))

    def history(self) -> list[SwitchEvent]:
        fs = self.backend.fs
        with remote_errors("cannot read the switch history"):
            try:
                paths = sorted(fs.ls(self._history, detail=False, refresh=True))
            except FileNotFoundError:
                return []
            bodies = fs.cat(paths) if paths else {}
        events = (event_from_json(bodies[path]) for path in paths if path in bodies)
        return [event for event in events if event is not None]


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


def fetch_url(url: str, cache: ObjectCache, sha256: str | None) -> tuple[Path, str]:
    """A model file given by URL, copied into the cache and verified against ``sha256`` when
    given; returns the local path and the digest of its bytes."""
    backend = open_backend(url)
    name = Path(urlsplit(url).path).name or "model"

    def download(target: Path) -> None:
        with remote_errors(f"cannot download {redact(url)}"):
            try:
                backend.fs.get_file(backend.root, str(target))
            except FileNotFoundError:
                raise NotFoundError(f"no model at {redact(url)}") from None

    if sha256 is not None:
        return cache.get(sha256.lower(), name, download), sha256.lower()
    return cache.add(name, download)
