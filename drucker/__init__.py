"""drucker: serve machine-learning models over gRPC from a small plugin module.

The public API for plugin authors::

    import drucker

    @drucker.hookimpl
    def drucker_predict(model, input, option, input_kind, output_kind):
        return drucker.PredictResult(label=..., score=..., option={})

The names are exported lazily (PEP 562): ``import drucker.client`` loads only what the client
needs, and ``drucker.Settings`` loads the settings (PyYAML, cattrs) when first named.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from drucker._version import __version__

if TYPE_CHECKING:
    from drucker.errors import DruckerError, InvalidInputError
    from drucker.events import Level, LogRecord, PredictionEvent, SystemEvent
    from drucker.hookspecs import hookimpl, hookspec
    from drucker.kinds import Kind
    from drucker.settings import ServiceLevel, Settings, load_settings
    from drucker.types import (
        EvaluationDetail,
        ModelSignature,
        PredictResult,
        TensorResult,
        TensorSpec,
    )

# Each public name and the module that defines it.
_HOMES = {
    "DruckerError": "drucker.errors",
    "InvalidInputError": "drucker.errors",
    "Level": "drucker.events",
    "LogRecord": "drucker.events",
    "PredictionEvent": "drucker.events",
    "SystemEvent": "drucker.events",
    "hookimpl": "drucker.hookspecs",
    "hookspec": "drucker.hookspecs",
    "Kind": "drucker.kinds",
    "ServiceLevel": "drucker.settings",
    "Settings": "drucker.settings",
    "load_settings": "drucker.settings",
    "EvaluationDetail": "drucker.types",
    "ModelSignature": "drucker.types",
    "PredictResult": "drucker.types",
    "TensorResult": "drucker.types",
    "TensorSpec": "drucker.types",
}

__all__ = [
    "DruckerError",
    "EvaluationDetail",
    "InvalidInputError",
    "Kind",
    "Level",
    "LogRecord",
    "ModelSignature",
    "PredictResult",
    "PredictionEvent",
    "ServiceLevel",
    "Settings",
    "SystemEvent",
    "TensorResult",
    "TensorSpec",
    "__version__",
    "hookimpl",
    "hookspec",
    "load_settings",
]

if not TYPE_CHECKING:  # mypy reads the imports above; a typo stays an error there

    def __getattr__(name: str) -> Any:
        """Import a public name's module when the name is first used (PEP 562)."""
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module 'drucker' has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_HOMES})
