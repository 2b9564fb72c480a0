"""The stores built directly: uploads, the index, evaluation results, atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from drucker.errors import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidNameError,
    NotFoundError,
    TooLargeError,
)
from drucker.store.atomic import atomic_writer, write_json_atomically
from drucker.store.files import FileStore
from drucker.store.results import ResultStore


def leftovers(directory: Path) -> list[str]:
    """Temporary files left in a directory."""
    return sorted(
        p.name for p in directory.iterdir() if p.name.endswith(".tmp") or "upload" in p.name
    )


def test_an_upload_is_whole_or_absent(tmp_path: Path) -> None:
    store = FileStore(tmp_path, "model")
    data = b"model bytes" * 1000
    with store.begin("a.model", 1 << 20) as upload:
        upload.write(data[:5000])
        upload.write(data[5000:])
        stored = upload.commit(hashlib.sha256(data).hexdigest())
    assert (stored.name, stored.size) == ("a.model", len(data))
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert store.path("a.model").read_bytes() == data
    with store.begin("b.model", 1 << 20) as upload:
        upload.write(b"partial")
    # left without commit: nothing stored
    with pytest.raises(NotFoundError):
        store.get("b.model")
    with store.begin("c.model", 1 << 20) as upload:
        upload.write(b"x")
        with pytest.raises(InvalidInputError, match="sha256 mismatch"):
            upload.commit("0" * 64)
    with store.begin("d.model", 10) as upload, pytest.raises(TooLargeError):
        upload.write(b"x" * 11)
    assert [f.name for f in store.list()] == ["a.model"]
    assert leftovers(tmp_path) == []


def test_names_cannot_escape_the_store(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store", "model")
    for name in ("../x", "/etc/passwd", ".hidden", "", "a/b", "x" * 129):
        with pytest.raises(InvalidNameError):
            store.begin(name, 10)


def test_the_active_name_survives_and_is_protected(tmp_path: Path) -> None:
    store = FileStore(tmp_path, "model")
    with store.begin("a.model", 100) as upload:
        upload.write(b"a")
        upload.commit()
    store.set_active("a.model")
    assert FileStore(tmp_path, "model").active == "a.model"  # a new process sees it
    with store.begin("a.model", 100) as upload:
        upload.write(b"other bytes")
        with pytest.raises(AlreadyExistsError):
            upload.commit()
    assert store.path("a.model").read_bytes() == b"a"


def test_files_placed_by_hand_are_adopted_and_vanished_ones_forgotten(tmp_path: Path) -> None:
    (tmp_path / "by-hand.model").write_bytes(b"hand")
    store = FileStore(tmp_path, "model")
    assert store.get("by-hand.model").sha256 == hashlib.sha256(b"hand").hexdigest()
    (tmp_path / "by-hand.model").unlink()
    assert FileStore(tmp_path, "model").list() == []


def test_atomic_writes_leave_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    write_json_atomically(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write("half")
        raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"v": 1}
    assert leftovers(tmp_path) == []


def records(count: int, label: str) -> list[dict[str, Any]]:
    return [{"input": [i], "label": label, "is_correct": True} for i in range(count)]


def test_results_are_summary_and_details_together(tmp_path: Path) -> None:
    results = ResultStore(tmp_path / "results")
    summary = results.write("run", iter(records(3, "a")), lambda: {"num": 3})
    assert summary == {"num": 3}
    stored, details = results.read("run")
    assert stored == {"num": 3} and len(list(details)) == 3
    assert results.read_summary("run") == {"num": 3}

    def fail() -> dict[str, Any]:
        raise InvalidInputError("no samples")

    with pytest.raises(InvalidInputError):
        results.write("run", iter(records(5, "b")), fail)
    stored, details = results.read("run")  # the previous result stays, whole
    assert stored == {"num": 3} and [d["label"] for d in details] == ["a"] * 3
    assert len(list((tmp_path / "results").glob("run.*.jsonl"))) == 1
    with pytest.raises(NotFoundError):
        results.read("never")


def test_concurrent_results_of_one_name_stay_consistent(tmp_path: Path) -> None:
    results = ResultStore(tmp_path / "results")
    start = threading.Barrier(4)

    def evaluate(count: int) -> None:
        start.wait()
        results.write("same", iter(records(count, str(count))), lambda: {"num": count})

    threads = [threading.Thread(target=evaluate, args=(n,)) for n in (45, 450, 4500, 18000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    summary, details = results.read("same")
    rows = list(details)
    assert summary["num"] == len(rows)
    assert {row["label"] for row in rows} == {str(summary["num"])}
    assert len(list((tmp_path / "results").glob("same.*.jsonl"))) == 1


def test_stored_results_are_listed_with_their_summaries_newest_first(tmp_path: Path) -> None:
    results = ResultStore(tmp_path / "results")
    assert results.summaries() == []
    results.write("old", iter(records(1, "a")), lambda: {"num": 1})
    results.write("new", iter(records(2, "b")), lambda: {"num": 2})
    old = tmp_path / "results" / "old.summary.json"
    os.utime(old, (old.stat().st_mtime - 60,) * 2)
    listed = results.summaries()
    assert [(r.name, r.summary) for r in listed] == [("new", {"num": 2}), ("old", {"num": 1})]
    assert listed[0].stored_at > listed[1].stored_at > 0
