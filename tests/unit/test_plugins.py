"""Finding plugins by module name, file path and entry point; start-up errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from drucker.errors import PluginError
from drucker.plugins import build_plugin_manager, disabled_names, import_plugin
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


LOG_PLUGIN = """
import drucker

RECORDS = []

@drucker.hookimpl
def drucker_log(record):
    RECORDS.append(record)
"""


def install_package(
    root: Path, module: str, text: str, entry_points: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module with an installed distribution's metadata, found through ``sys.path``."""
    write_module(root, module, text)
    dist = root / f"{module}-1.0.dist-info"
    dist.mkdir()
    name = module.replace("_", "-")
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(root))


@pytest.fixture
def two_model_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Two installed model plugins (one in the 0.5.0 group) and one log plugin."""
    for module, group, name in (
        ("ep_text_model", "drucker.models", "text-model"),
        ("ep_legacy_model", "drucker", "legacy-model"),
    ):
        install_package(
            tmp_path, module, PREDICT_ONLY, f"[{group}]\n{name} = {module}\n", monkeypatch
        )
    install_package(
        tmp_path, "ep_log_sink", LOG_PLUGIN, "[drucker.plugins]\nsink = ep_log_sink\n", monkeypatch
    )
    yield
    for module in ("ep_text_model", "ep_legacy_model", "ep_log_sink"):
        sys.modules.pop(module, None)


@pytest.mark.usefixtures("two_model_packages")
def test_model_plugins_load_only_when_named() -> None:
    assert import_plugin("text-model").__name__ == "ep_text_model"
    assert import_plugin("legacy-model").__name__ == "ep_legacy_model"
    # Two installed model plugins never collide: only the named one is registered.
    for spec, module in (("text-model", "ep_text_model"), (ECHO_PLUGIN, None)):
        manager = build_plugin_manager(spec)
        impls = manager.hook.drucker_predict.get_hookimpls()
        assert len(impls) == 1
        if module is not None:
            assert impls[0].plugin.__name__ == module


@pytest.mark.usefixtures("two_model_packages")
def test_additive_plugins_load_automatically_and_can_be_disabled() -> None:
    manager = build_plugin_manager(ECHO_PLUGIN)
    assert manager.get_plugin("sink") is sys.modules["ep_log_sink"]
    manager = build_plugin_manager(ECHO_PLUGIN, disabled=["sink"])
    assert manager.get_plugin("sink") is None
    assert disabled_names(["no:sink", "no:jsonlog"]) == {"sink", "jsonlog"}
    with pytest.raises(PluginError, match="expected no:NAME"):
        disabled_names(["sink"])


def test_plugin_module_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(tmp_path, "cwd_model_plugin", PREDICT_ONLY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    try:
        manager = build_plugin_manager("cwd_model_plugin", load_entry_points=False)
        assert manager.get_plugin("cwd_model_plugin") is sys.modules["cwd_model_plugin"]
    finally:
        sys.modules.pop("cwd_model_plugin", None)


def test_a_misspelled_hook_is_refused_with_the_known_names(tmp_path: Path) -> None:
    text = PREDICT_ONLY + "\n@drucker.hookimpl\ndef drucker_evaluat(model):\n    return []\n"
    path = write_module(tmp_path, "typo_plugin", text)
    with pytest.raises(PluginError) as caught:
        build_plugin_manager(str(path), load_entry_points=False)
    message = str(caught.value)
    assert "'drucker_evaluat', which is not a drucker hook" in message
    assert "drucker_evaluate" in message and str(path) in message


def test_plugin_without_model_hooks_is_refused(tmp_path: Path) -> None:
    path = write_module(tmp_path, "empty_plugin", "def drucker_predict(input):\n    pass\n")
    spec = str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)
    with pytest.raises(PluginError, match="implements none of the model hooks") as caught:
        build_plugin_manager(spec, load_entry_points=False)
    assert f"plugin {spec!r}" in str(caught.value)  # the name the user wrote


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
