"""The loaded models, keyed by model name and version; which version of each model serves.

A one-model server is the case N = 1: its model is named after the application (``app.name``)
and its version is the loaded file's name. Every change is one dictionary assignment, so a
reader sees the old entry or the new one, never half of a switch.
"""

from __future__ import annotations

import time
from typing import Any

import attrs


@attrs.frozen
class ActiveModel:
    """A loaded model and where it came from. Replaced as a whole on a switch.

    ``name`` is the version (the model file's name); ``model`` is what the plugin loaded.
    """

    model: Any
    name: str
    path: str | None
    sha256: str | None = None
    loaded_at: float = attrs.field(factory=time.time)


class ModelRegistry:
    """Loaded models by ``(name, version)`` and the serving version of each name."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str], ActiveModel] = {}
        self._serving: dict[str, ActiveModel] = {}

    def get(self, name: str, version: str) -> ActiveModel | None:
        """The loaded ``version`` of model ``name``, or ``None``."""
        return self._loaded.get((name, version))

    def put(self, name: str, loaded: ActiveModel) -> None:
        """Hold ``loaded`` as version ``loaded.name`` of model ``name`` (not serving yet)."""
        self._loaded[(name, loaded.name)] = loaded

    def remove(self, name: str, version: str) -> ActiveModel | None:
        """Forget a loaded version (a serving one stops serving); return it, or ``None``."""
        removed = self._loaded.pop((name, version), None)
        if removed is not None and self._serving.get(name) is removed:
            del self._serving[name]
        return removed

    def serving(self, name: str) -> ActiveModel | None:
        """The version of ``name`` that answers its requests now, or ``None``."""
        return self._serving.get(name)

    def serve(self, name: str, loaded: ActiveModel) -> ActiveModel | None:
        """Hold ``loaded`` and make it the serving version of ``name`` (one reference change);
        return the version it replaced, which stays loaded until removed."""
        self.put(name, loaded)
        previous = self._serving.get(name)
        self._serving[name] = loaded
        return None if previous is loaded else previous

    def versions(self, name: str) -> list[str]:
        """The loaded versions of ``name``."""
        return [version for (model, version) in self._loaded if model == name]

    def names(self) -> list[str]:
        """The names of the models that have a serving version."""
        return list(self._serving)
