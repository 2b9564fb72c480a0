"""Finding plugins by module name, file path and entry point; start-up errors."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from drucker.errors import PluginError
from drucker.plugins import build_plugin_manager, import_plugin
from tests.conftest import ECHO_PLUGIN

PREDICT_ONLY = """
import drucker

@drucker.hookimpl
def drucker_predict(input):
    return drucker.PredictResult(label=input, score=1.0)
"""


def write_module(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.py"
    path.write_text(text)
    return path


def test_plugin_by_file_path() -> None:
    manager = build_plugin_manager(ECHO_PLUGIN, load_entry_points=False)
    assert len(manager.hook.drucker_predict.get_hookimpls()) == 1


def test_plugin_by_dotted_module_name() -> None:
    manager = build_plugin_manager("drucker_sklearn", load_entry_points=False)
    impls = manager.hook.drucker_predict.get_hookimpls()
    assert [impl.plugin.__name__ for impl in impls] == ["drucker_sklearn"]


def test_plugin_by_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_module(tmp_path, "ep_model_plugin", PREDICT_ONLY)
    dist = tmp_path / "ep_model_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-model-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[drucker]\nmy-model = ep_model_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = import_plugin("my-model")
    assert module.__name__ == "ep_model_plugin"
    # Installed entry-point plugins are also registered without being named.
    manager = build_plugin_manager(None)
    assert manager.get_plugin("my-model") is module
    sys.modules.pop("ep_model_plugin", None)


def test_plugin_without_model_hooks_is_refused(tmp_path: Path) -> None:
    path = write_module(tmp_path, "empty_plugin", "def drucker_predict(input):\n    pass\n")
    with pytest.raises(PluginError, match="implements none of the model hooks"):
        build_plugin_manager(str(path), load_entry_points=False)


def test_two_plugins_claiming_predict_are_refused(tmp_path: Path) -> None:
    other = ModuleType("other_predictor")
    exec(PREDICT_ONLY, other.__dict__)
    with pytest.raises(PluginError, match="more than one plugin implements drucker_predict"):
        build_plugin_manager(ECHO_PLUGIN, extra_plugins=(other,), load_entry_points=False)


def test_no_predict_plugin_is_refused() -> None:
    with pytest.raises(PluginError, match="no plugin implements drucker_predict"):
        build_plugin_manager(None, load_entry_points=False)


def test_unknown_plugin_names_what_was_tried() -> None:
    with pytest.raises(PluginError, match="neither a file, nor an entry point"):
        build_plugin_manager("no_such_plugin_module", load_entry_points=False)


def test_plugin_that_fails_to_import(tmp_path: Path) -> None:
    path = write_module(tmp_path, "broken_plugin", "import drucker\nraise ImportError('boom')\n")
    with pytest.raises(PluginError, match="failed to import"):
        build_plugin_manager(str(path), load_entry_points=False)


def test_missing_plugin_file(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="does not exist"):
        build_plugin_manager(str(tmp_path / "absent.py"), load_entry_points=False)
