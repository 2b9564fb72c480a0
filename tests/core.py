"""Building the core pieces directly (no server): a runtime over plugin objects, settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import drucker
from drucker.events import LogRecord
from drucker.plugins import build_plugin_manager
from drucker.runtime import Runtime
from drucker.settings import Settings, load_settings


class RecordingLog:
    """A log plugin that keeps every record."""

    def __init__(self) -> None:
        self.records: list[LogRecord] = []

    @drucker.hookimpl
    def drucker_log(self, record: LogRecord) -> None:
        self.records.append(record)


def settings(tmp_path: Path | None = None, **overrides: Any) -> Settings:
    """Settings from the defaults and ``overrides`` only (no file, no environment)."""
    if tmp_path is not None:
        overrides.setdefault("model_dir", str(tmp_path / "model"))
        overrides.setdefault("eval_dir", str(tmp_path / "eval"))
    return load_settings(None, environ={}, overrides=overrides)


def runtime(
    plugin: object, tmp_path: Path | None = None, **overrides: Any
) -> tuple[Runtime, RecordingLog]:
    """A runtime over ``plugin`` with a recording log, and the model loaded and active."""
    log = RecordingLog()
    manager = build_plugin_manager(plugin, extra_plugins=(log,), load_entry_points=False)
    built = Runtime(manager, settings(tmp_path, **overrides))
    model_file = None
    if built.has_loader:  # a plugin that reads a model file gets a small text file
        assert tmp_path is not None, "a plugin with drucker_load_model needs tmp_path"
        model_file = tmp_path / "test-model"
        model_file.write_text("test-model\n")
    built.activate(built.load_model(model_file, "test-model"))
    return built, log
