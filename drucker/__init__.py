"""drucker: serve machine-learning models over gRPC from a small plugin module.

The public API for plugin authors::

    import drucker

    @drucker.hookimpl
    def drucker_predict(model, input, option, input_kind, output_kind):
        return drucker.PredictResult(label=..., score=..., option={})
"""

from drucker._version import __version__
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
