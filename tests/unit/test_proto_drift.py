"""The committed stubs are exactly what `nox -s proto` generates from proto/."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import REPO

GENERATED = REPO / "drucker" / "_wire"


def _load_generator() -> object:
    if importlib.util.find_spec("grpc_tools") is None:
        pytest.skip("grpcio-tools is not installed, so the stubs cannot be checked")
    spec = importlib.util.spec_from_file_location("gen_proto", REPO / "tools" / "gen_proto.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stubs_match_the_protos(tmp_path: Path) -> None:
    generator = _load_generator()
    written = generator.generate(tmp_path)  # type: ignore[attr-defined]
    names = sorted(path.name for path in written)
    committed = sorted(path.name for path in GENERATED.glob("*_pb2*.py*"))
    assert names == committed, "run `nox -s proto`: the set of stub files differs"
    for name in names:
        fresh = (tmp_path / name).read_text()
        assert (GENERATED / name).read_text() == fresh, f"{name} drifted: run `nox -s proto`"
