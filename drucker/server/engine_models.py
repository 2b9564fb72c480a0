"""A models directory that a serving engine's agent fills (``repository.models_dir``), read at
the edge: which models it holds and where each one's model file is.

Seldon Core 2's agent places model ``<name>`` version ``<v>`` (served as ``<name>_<v>``) at
``<dir>/<name>_<v>/<v>/`` with the artifact's files; for its MLServer server type it writes a
``model-settings.json`` there naming ``<name>_<v>`` (``parameters.uri``: the model file,
relative to that folder); for its Triton type a ``config.pbtxt`` sits in ``<dir>/<name>_<v>/``.
A model is the version folder with the highest number (or the model's folder itself when it has
no version folder); its file is the one ``model-settings.json`` names, else the only file there,
else the folder (a model of a directory format).
"""

from __future__ import annotations

import json
from pathlib import Path

from drucker.errors import InvalidNameError, ModelLoadError
from drucker.store.names import validate_name

MODEL_SETTINGS = "model-settings.json"
TRITON_CONFIG = "config.pbtxt"
NOT_THE_MODEL = frozenset({MODEL_SETTINGS, TRITON_CONFIG})


class EngineModels:
    """The models of one engine-managed directory (read afresh at every call: the agent adds
    and removes models while the server runs)."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def names(self) -> list[str]:
        """The models the directory holds (folders with a plain name holding some file)."""
        if not self.root.is_dir():
            return []
        return [
            entry.name
            for entry in sorted(self.root.iterdir())
            if entry.is_dir() and _plain(entry.name) and _version_folder(entry) is not None
        ]

    def file(self, name: str) -> str | None:
        """The model file (or directory) of model ``name``; ``None`` when the directory does
        not hold that model.

        :raises ModelLoadError: when ``model-settings.json`` names another model or a file that
            is not there, or the folder holds several candidate files.
        """
        if not _plain(name):
            return None
        folder = _version_folder(self.root / name)
        if folder is None:
            return None
        named = _settings_file(folder, name)
        if named is not None:
            return str(named)
        files = [p for p in _entries(folder) if p.is_file() and p.name not in NOT_THE_MODEL]
        if len(files) == 1:
            return str(files[0])
        if not files:
            return str(folder)  # a model of a directory format
        listed = ", ".join(p.name for p in files[:5])
        raise ModelLoadError(
            f"{folder} holds {len(files)} files ({listed}): put one model file there, or a "
            f"{MODEL_SETTINGS} whose parameters.uri names it"
        )


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _version_folder(model: Path) -> Path | None:
    """The folder holding ``model``'s files: its highest numbered version folder, else itself
    (when it holds a file); ``None`` when there is no such model."""
    if not model.is_dir():
        return None
    entries = _entries(model)
    versions = [p for p in entries if p.is_dir() and p.name.isdigit() and _holds_a_file(p)]
    if versions:
        return max(versions, key=lambda p: int(p.name))
    if any(p.is_file() and p.name not in NOT_THE_MODEL for p in entries):
        return model
    return None


def _settings_file(folder: Path, name: str) -> Path | None:
    """The model file ``model-settings.json`` in ``folder`` names, if it names one."""
    path = folder / MODEL_SETTINGS
    if not path.is_file():
        return None
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ModelLoadError(f"{path} is not readable JSON: {error}") from None
    if not isinstance(settings, dict):
        raise ModelLoadError(f"{path} is not a JSON object")
    named = settings.get("name")
    if named not in (None, "", name):
        raise ModelLoadError(f"{path} names model {named!r}, not {name!r}")
    parameters = settings.get("parameters")
    uri = parameters.get("uri") if isinstance(parameters, dict) else None
    if not isinstance(uri, str) or not uri or uri in ("./", "."):
        return None
    target = (folder / uri).resolve()
    if not target.is_relative_to(folder.resolve()) or not target.exists():
        raise ModelLoadError(f"{path}: parameters.uri {uri!r} is not a file in {folder}")
    return target


def _plain(name: str) -> bool:
    try:
        validate_name(name, "model name")
    except InvalidNameError:
        return False
    return not name.startswith(".")


def _holds_a_file(directory: Path) -> bool:
    return any(p.is_file() and not p.name.startswith(".") for p in directory.iterdir())
