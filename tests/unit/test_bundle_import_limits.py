"""``bundle import`` unpacks an archive within limits (issue 26.8): no file beyond the size
limit, no endless list of entries, and nothing left in the store by a refused archive."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

import drucker.bundle.store as store_module
from drucker.bundle.store import BundleStore
from drucker.errors import ConfigurationError


def archive_of(path: Path, files: dict[str, int]) -> Path:
    """A gzipped tar of files of zeros (``name`` → size): it compresses to almost nothing."""
    with tarfile.open(path, mode="w:gz") as tar:
        for name, size in files.items():
            member = tarfile.TarInfo(name)
            member.size = size
            tar.addfile(member, io.BytesIO(bytes(size)))
    return path


def test_a_file_past_the_limit_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    bomb = archive_of(tmp_path / "bomb.tar.gz", {"manifest.json": 2, "model.bin": 8 << 20})
    assert bomb.stat().st_size < 64 << 10
    store = BundleStore(tmp_path / "store")
    with pytest.raises(ConfigurationError, match=r"model.bin holds 8388608 bytes, more than"):
        store.import_archive(bomb, max_file_bytes=1 << 20)
    unpacked = [p for p in (tmp_path / "store").rglob("*") if p.is_file() and p.name != ".lock"]
    assert unpacked == []


def test_an_archive_of_too_many_entries_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MAX_ARCHIVE_MEMBERS", 3)
    many = archive_of(tmp_path / "many.tar.gz", {f"f{i}": 1 for i in range(5)})
    with pytest.raises(ConfigurationError, match="more than 3 entries"):
        BundleStore(tmp_path / "store").import_archive(many)
