"""The models one server serves, by name: each with its runtime, store manager and dispatcher.

A one-model server is the case N = 1: its model is named after the application (``app.name``).
Requests that name no model (every Drucker 0.4.5 client without ``x-rekcurd-application-name``)
go to the :attr:`ModelTable.default` model. Finding a model is one dictionary get; adding or
removing one is one assignment, so a request sees a model whole or not at all, and requests in
flight keep the :class:`ServedModel` they started with.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from drucker.dispatch import Dispatcher
from drucker.errors import NotFoundError
from drucker.management import ModelManager
from drucker.runtime import Runtime

# The metadata key a Drucker 0.4.5 client names its application (here: the model) with.
MODEL_METADATA_KEY = "x-rekcurd-application-name"


@attrs.frozen
class ServedModel:
    """One served model: its store and switches (``manager``) and how it predicts."""

    name: str
    manager: ModelManager
    dispatcher: Dispatcher

    @property
    def runtime(self) -> Runtime:
        """The model's runtime (its plugin hooks and serving version)."""
        return self.manager.runtime


class ModelTable:
    """The served models by name, and the default one (the first, unless named)."""

    def __init__(self, models: list[ServedModel], default: str | None = None) -> None:
        if not models:
            raise ValueError("a server serves at least one model")
        self._served: dict[str, ServedModel] = {model.name: model for model in models}
        self.default = self._served[default] if default else models[0]
        # The one model's dispatcher while the server has only ever had one: then every request
        # goes to it whatever it names, as on a 0.4.5 server. Once several were served,
        # names are checked even when one is left.
        self.only: Dispatcher | None = None
        # True while the server's start loads the store's models (app.load_models_at_startup):
        # the server is not ready until every model marked to load at start has loaded.
        self.starting = False
        self._ever_many = False
        self._routing()

    @classmethod
    def of(cls, manager: ModelManager, dispatcher: Dispatcher) -> ModelTable:
        """The table of one model: ``manager``'s runtime predicting through ``dispatcher``."""
        return cls([ServedModel(manager.runtime.name, manager, dispatcher)])

    def _routing(self) -> None:
        self._ever_many = self._ever_many or len(self._served) > 1
        self.only = None if self._ever_many else self.default.dispatcher

    def __iter__(self) -> Iterator[ServedModel]:
        return iter(list(self._served.values()))

    def __len__(self) -> int:
        return len(self._served)

    def __contains__(self, name: object) -> bool:
        return name in self._served

    def names(self) -> list[str]:
        """The names of the served models, in the order they were added."""
        return list(self._served)

    def get(self, name: str) -> ServedModel:
        """The served model ``name``; an empty name is the default model.

        :raises NotFoundError: when no served model has that name (naming those served).
        """
        served = self._served.get(name) if name else self.default
        if served is None:
            raise NotFoundError(self.unknown(name))
        return served

    def find(self, name: str) -> ServedModel | None:
        """The served model ``name``, or ``None``."""
        return self._served.get(name)

    def unknown(self, name: str) -> str:
        """The message for a request naming a model that is not served."""
        served = ", ".join(repr(served) for served in self._served) or "none"
        return f"no model named {name!r} is served; this server serves {served}"

    def for_metadata(self, metadata: tuple[tuple[str, str | bytes], ...] | None) -> ServedModel:
        """The model a Drucker 0.4.5 request names with ``x-rekcurd-application-name``
        (the default model without it, and for every request while the server has only ever
        served one model, as a 0.4.5 server answered whatever application a client named).

        :raises NotFoundError: for a name that is not served.
        """
        if self.only is not None:
            return self.default
        for key, value in metadata or ():
            if key == MODEL_METADATA_KEY:
                name = value.decode() if isinstance(value, bytes) else value
                return self.get(name)
        return self.default

    @property
    def ready(self) -> bool:
        """Whether the start's loads are done and every served model has a serving version
        (a model unloaded through the repository no longer counts)."""
        if self.starting:
            return False
        return all(served.runtime.ready for served in self._served.values())

    @property
    def unready_reason(self) -> str | None:
        """Why a served model has no serving version, when its runtime knows (``None``: it
        serves, or it is only loading)."""
        for served in self._served.values():
            runtime = served.runtime
            if runtime.active is None and runtime.not_loaded_reason:
                return runtime.not_loaded_reason
        return None

    def add(self, served: ServedModel) -> ServedModel | None:
        """Serve ``served`` under its name (replacing a model of that name); return the one
        it replaced."""
        previous = self._served.get(served.name)
        self._served[served.name] = served
        if previous is self.default:
            self.default = served
        self._routing()
        return previous

    def remove(self, name: str) -> ServedModel:
        """Stop routing to ``name``; requests in flight on it keep their reference.

        :raises NotFoundError: when it is not served.
        """
        served = self._served.pop(name, None)
        if served is None:
            raise NotFoundError(self.unknown(name))
        self._routing()
        return served
