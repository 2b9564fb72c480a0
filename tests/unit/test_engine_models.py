"""Where a model is in a models directory a serving engine's agent filled (Seldon Core 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drucker.errors import ModelLoadError
from drucker.server.engine_models import EngineModels


def _settings(folder: Path, **fields: object) -> None:
    (folder / "model-settings.json").write_text(json.dumps(fields))


def test_the_agents_mlserver_layout(tmp_path: Path) -> None:
    engine = EngineModels(str(tmp_path))
    assert engine.names() == [] and engine.file("iris_1") is None
    folder = tmp_path / "iris_1" / "1"
    folder.mkdir(parents=True)
    assert engine.names() == []  # an empty version folder is no model yet
    (folder / "model.joblib").write_bytes(b"m")
    _settings(folder, name="iris_1", parameters={"uri": "./model.joblib", "version": "1"})
    assert engine.names() == ["iris_1"]
    assert engine.file("iris_1") == str(folder / "model.joblib")
    assert engine.file("iris_2") is None and engine.file("../iris_1") is None


def test_without_model_settings_the_only_file_or_the_folder_is_the_model(tmp_path: Path) -> None:
    engine = EngineModels(str(tmp_path))
    folder = tmp_path / "m_4" / "4"
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"w")
    (folder / ".hidden").write_bytes(b"")
    assert engine.file("m_4") == str(folder / "weights.bin")
    (folder / "vocab.txt").write_bytes(b"v")
    with pytest.raises(ModelLoadError, match="holds 2 files"):
        engine.file("m_4")
    (folder / "weights.bin").unlink()
    (folder / "vocab.txt").unlink()
    (folder / "saved").mkdir()
    (folder / "saved" / "x").write_bytes(b"x")
    (folder / "config.json").write_bytes(b"{}")
    assert engine.file("m_4") == str(folder / "config.json")


def test_the_highest_version_folder_and_the_triton_layout(tmp_path: Path) -> None:
    engine = EngineModels(str(tmp_path))
    model = tmp_path / "t_2"
    for version in ("1", "2", "10"):
        (model / version).mkdir(parents=True)
        (model / version / "model.onnx").write_bytes(version.encode())
    (model / "config.pbtxt").write_text('name: "t_2"')  # Triton's, beside the versions
    assert engine.file("t_2") == str(model / "10" / "model.onnx")
    flat = tmp_path / "flat_1"
    flat.mkdir()
    (flat / "config.pbtxt").write_text("")
    assert engine.names() == ["t_2"]  # a config alone is no model
    (flat / "model.pt").write_bytes(b"p")
    assert engine.file("flat_1") == str(flat / "model.pt")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"name": "other_1"}, "names model 'other_1', not 'iris_1'"),
        ({"name": "iris_1", "parameters": {"uri": "../../secret"}}, "is not a file in"),
        ({"name": "iris_1", "parameters": {"uri": "./absent.joblib"}}, "is not a file in"),
    ],
)
def test_a_model_settings_that_does_not_fit_is_refused(
    tmp_path: Path, settings: dict[str, object], message: str
) -> None:
    folder = tmp_path / "iris_1" / "1"
    folder.mkdir(parents=True)
    (folder / "model.joblib").write_bytes(b"m")
    (tmp_path / "secret").write_bytes(b"s")
    _settings(folder, **settings)
    with pytest.raises(ModelLoadError, match=message):
        EngineModels(str(tmp_path)).file("iris_1")


def test_model_settings_that_is_not_json_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "iris_1" / "1"
    folder.mkdir(parents=True)
    (folder / "model.joblib").write_bytes(b"m")
    (folder / "model-settings.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not readable JSON"):
        EngineModels(str(tmp_path)).file("iris_1")
