"""The drucker client: ``Client`` (blocking) and ``drucker.client.aio.AsyncClient``.

    from drucker.client import Client

    with Client("localhost:5000") as client:
        result = client.predict([5.1, 3.5, 1.4, 0.2], output="String")
        print(result.label, result.score)

It knows the wire protocol only (never the server or the runtime).
"""

from drucker.client._kinds import output_kind_of
from drucker.client._sync import Client
from drucker.client.errors import (
    ClientError,
    DeadlineExceeded,
    InvalidArgument,
    ManagementError,
    NotFound,
    ServerError,
    Unauthenticated,
    Unavailable,
)
from drucker.client.types import (
    EvaluationRecord,
    Metrics,
    ModelSwitch,
    ServiceInfo,
    ShadowFigures,
    ShadowSample,
    ShadowSampleRow,
    StoredEvaluation,
    StoredModel,
    Traffic,
    TrafficGuard,
    VersionFigures,
)
from drucker.client.types import RepositoryModel as RepositoryModel
from drucker.kinds import Kind
from drucker.types import PredictResult

__all__ = [
    "Client",
    "ClientError",
    "DeadlineExceeded",
    "EvaluationRecord",
    "InvalidArgument",
    "Kind",
    "ManagementError",
    "Metrics",
    "ModelSwitch",
    "NotFound",
    "PredictResult",
    "RepositoryModel",
    "ServerError",
    "ServiceInfo",
    "ShadowFigures",
    "ShadowSample",
    "ShadowSampleRow",
    "StoredEvaluation",
    "StoredModel",
    "Traffic",
    "TrafficGuard",
    "Unauthenticated",
    "Unavailable",
    "VersionFigures",
    "output_kind_of",
]
