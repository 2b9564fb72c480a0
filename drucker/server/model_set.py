"""The models a server starts with (``--model NAME=FILE``) and those its repository can load.

Every model gets its own runtime (the same plugins, its settings with ``app.name`` set to the
model's name, so its store is ``<app.modeldir>/<name>/``) and its own :class:`ModelManager`.
With ``repository.models_dir`` (an engine's agent fills it: Seldon Core 2), the models found
there (:mod:`drucker.server.engine_models`) can be loaded too, each from its file there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import attrs

from drucker.errors import DruckerError, InvalidNameError, NotFoundError
from drucker.management import ModelManager
from drucker.observability import Metrics
from drucker.repository import Repository
from drucker.runtime import Runtime
from drucker.server.engine_models import EngineModels
from drucker.settings import model_settings
from drucker.store.names import validate_name
from drucker.types import ModelSpec


def parse_model_arguments(values: list[str] | tuple[str, ...]) -> tuple[str | None, dict[str, str]]:
    """``--model`` values: a lone ``FILE`` (today's meaning) or ``NAME=FILE`` pairs.

    :raises InvalidNameError: for a bad name, a name given twice, or a lone FILE among pairs.
    """
    named: dict[str, str] = {}
    lone: list[str] = []
    for value in values:
        name, equals, path = value.partition("=")
        if not equals or "/" in name or not name:
            lone.append(value)
            continue
        validate_name(name, "model name")
        if name in named:
            raise InvalidNameError(f"--model {name}=... is given twice")
        named[name] = path
    if lone and (named or len(lone) > 1):
        raise InvalidNameError("give one --model FILE, or --model NAME=FILE for each model")
    return (lone[0] if lone else None), named


@attrs.define
class ModelSet:
    """Builds the runtime and manager of each model of one server from a template runtime."""

    template: Runtime
    metrics: Metrics
    # The start file of each model named at start ("": its store's, or app.modelfile).
    files: dict[str, str] = attrs.field(factory=dict)
    plugins: dict[str, str] = attrs.field(factory=dict)  # a model's own model plugin
    specs: dict[str, ModelSpec] = attrs.field(factory=dict)  # the models: section's entries

    @classmethod
    def starting(cls, template: Runtime, metrics: Metrics, named: Mapping[str, str]) -> ModelSet:
        """The models of the settings' ``models:`` section, then ``named`` (``--model
        NAME=FILE``, which wins for its name)."""
        specs = template.settings.models
        files = {spec.name: spec.file for spec in specs} | dict(named)
        plugins = {spec.name: spec.plugin for spec in specs if spec.plugin}
        return cls(template, metrics, files, plugins, {spec.name: spec for spec in specs})

    def manager(self, name: str) -> ModelManager:
        """A manager (with its runtime) for model ``name``; nothing is loaded yet.

        :raises PluginError: when the model's own plugin cannot be loaded.
        """
        plugin = self.plugins.get(name)
        spec = self.specs.get(name)
        if name == self.template.name and plugin is None and not (spec and spec.settings):
            return ModelManager(self.template, self.metrics)
        settings = model_settings(self.template.settings, name, spec)
        return ModelManager(self.template.sibling(settings, plugin), self.metrics)

    @property
    def engine(self) -> EngineModels | None:
        """The engine's models directory (``repository.models_dir``), if there is one."""
        root = self.template.settings.repository_models_dir
        return EngineModels(root) if root else None

    def start_file(self, name: str) -> str | None:
        """The file model ``name`` starts from: named at start, else its file in the engine's
        models directory; ``None``: its store decides."""
        engine = self.engine
        if name in self.files or engine is None:
            return self.files.get(name) or None
        return engine.file(name)

    def stored(self) -> list[str]:
        """The models this server can load: those named at start, those of the engine's models
        directory and the local store's directories (``<app.modeldir>/<name>/`` holding a
        file)."""
        names = dict.fromkeys(self.files)
        engine = self.engine
        for name in engine.names() if engine is not None else ():
            names.setdefault(name)
        root = Path(self.template.settings.model_dir)
        if root.is_dir():
            for entry in sorted(root.iterdir()):
                if entry.is_dir() and _plain(entry.name) and _holds_a_file(entry):
                    names.setdefault(entry.name)
        return list(names)

    def build(self, name: str) -> ModelManager:
        """Model ``name`` loaded from its store (or start file): the repository's load.

        :raises NotFoundError: when the store does not hold it.
        :raises ModelLoadError: when it fails to load.
        """
        settings = self.template.settings
        if name not in self.files and not settings.store_url and name not in self.stored():
            raise NotFoundError(f"the model store holds no model {name!r}")
        start = self.start_file(name)
        manager = self.manager(name)
        if start is None and settings.store_url:
            if not _holds_a_model(manager):
                raise NotFoundError(f"the model store holds no model {name!r}")
            if manager.models.active_record() is None:
                # stored (e.g. a replica's start file) but never switched to: its newest file
                newest = max(manager.models.list(), key=lambda stored: stored.stored_at)
                manager.switch(newest.name, newest.sha256, by="repository load")
                return manager
        load_start_model(manager, start)
        return manager

    def reload(self, manager: ModelManager) -> None:
        """Load ``manager``'s serving version again and swap it in (a served model's load)."""
        load_start_model(manager, self.start_file(manager.runtime.name))


async def load_models(
    model_set: ModelSet,
    repository: Repository,
    default: ModelManager,
    others: tuple[ModelManager, ...],
    path: str | None,
    sha256: str | None = None,
    force: bool = False,
) -> None:
    """Load the models a server starts with: the default one (from ``path``, with
    ``--model-sha256`` and ``--force-model``), the other named ones, then, with
    ``app.load_models_at_startup``, every other model of the store (one that fails stays
    ``UNAVAILABLE`` with its reason, and the server starts).

    :raises DruckerError: when a model named at start cannot be loaded.
    """
    runtime = default.runtime
    if runtime.has_loader:
        await asyncio.to_thread(default.load_initial, path, sha256, force)
    else:
        runtime.activate(runtime.load_model(None))
    files = model_set.files
    for other in others:
        await asyncio.to_thread(load_start_model, other, files.get(other.runtime.name) or None)
    if not runtime.settings.load_models_at_startup:
        return
    repository.models.starting = True  # not ready before these are loaded (or failed)
    try:
        for name in model_set.stored():
            if name in repository.models:
                continue
            try:
                await repository.load(name, starting=True)
            except DruckerError as error:
                runtime.log.warning(f"model {name} of the store is not served: {error}", model=name)
    finally:
        repository.models.starting = False


def load_start_model(manager: ModelManager, path: str | None) -> None:
    """Load and serve ``manager``'s model (the store's last switch, else ``path``)."""
    runtime = manager.runtime
    if not runtime.has_loader:
        runtime.activate(runtime.load_model(None))
        return
    manager.load_initial(path)


def _holds_a_model(manager: ModelManager) -> bool:
    """Whether a shared store has a serving record or a stored file for this model."""
    return manager.models.active_record() is not None or bool(manager.models.list())


def _plain(name: str) -> bool:
    try:
        validate_name(name, "model name")
    except InvalidNameError:
        return False
    return not name.startswith(".")


def _holds_a_file(directory: Path) -> bool:
    return any(path.is_file() and not path.name.startswith(".") for path in directory.iterdir())
