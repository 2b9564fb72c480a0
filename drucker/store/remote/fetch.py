"""A model file given by URL (``--model s3://bucket/key``), copied into the local cache."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from drucker.errors import NotFoundError
from drucker.store.cache import ObjectCache
from drucker.store.remote.records import open_backend, redact, remote_errors


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
