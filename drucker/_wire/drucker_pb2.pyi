from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EnumVersionInfo(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    v0: _ClassVar[EnumVersionInfo]
    v1: _ClassVar[EnumVersionInfo]
    v2: _ClassVar[EnumVersionInfo]
v0: EnumVersionInfo
v1: EnumVersionInfo
v2: EnumVersionInfo
DRUCKER_GRPC_PROTO_VERSION_FIELD_NUMBER: _ClassVar[int]
drucker_grpc_proto_version: _descriptor.FieldDescriptor

class HealthCheckRequest(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: str
    def __init__(self, service: _Optional[str] = ...) -> None: ...

class HealthCheckResponse(_message.Message):
    __slots__ = ("status",)
    class ServingStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[HealthCheckResponse.ServingStatus]
        SERVING: _ClassVar[HealthCheckResponse.ServingStatus]
        NOT_SERVING: _ClassVar[HealthCheckResponse.ServingStatus]
    UNKNOWN: HealthCheckResponse.ServingStatus
    SERVING: HealthCheckResponse.ServingStatus
    NOT_SERVING: HealthCheckResponse.ServingStatus
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: HealthCheckResponse.ServingStatus
    def __init__(self, status: _Optional[_Union[HealthCheckResponse.ServingStatus, str]] = ...) -> None: ...

class GetTrafficRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TrafficWeight(_message.Message):
    __slots__ = ("version", "weight")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    version: str
    weight: float
    def __init__(self, version: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class SetTrafficSplitRequest(_message.Message):
    __slots__ = ("weights",)
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    weights: _containers.RepeatedCompositeFieldContainer[TrafficWeight]
    def __init__(self, weights: _Optional[_Iterable[_Union[TrafficWeight, _Mapping]]] = ...) -> None: ...

class SetTrafficShadowRequest(_message.Message):
    __slots__ = ("version", "fraction")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    version: str
    fraction: float
    def __init__(self, version: _Optional[str] = ..., fraction: _Optional[float] = ...) -> None: ...

class SetTrafficGuardRequest(_message.Message):
    __slots__ = ("version", "max_error_rate", "min_agreement", "window", "remove")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    MIN_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    version: str
    max_error_rate: float
    min_agreement: float
    window: int
    remove: bool
    def __init__(self, version: _Optional[str] = ..., max_error_rate: _Optional[float] = ..., min_agreement: _Optional[float] = ..., window: _Optional[int] = ..., remove: bool = ...) -> None: ...

class PromoteVersionRequest(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

class ClearTrafficRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShadowSampleRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class TrafficGuard(_message.Message):
    __slots__ = ("version", "max_error_rate", "min_agreement", "window", "tripped", "reason", "tripped_at")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    MIN_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    TRIPPED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRIPPED_AT_FIELD_NUMBER: _ClassVar[int]
    version: str
    max_error_rate: float
    min_agreement: float
    window: int
    tripped: bool
    reason: str
    tripped_at: float
    def __init__(self, version: _Optional[str] = ..., max_error_rate: _Optional[float] = ..., min_agreement: _Optional[float] = ..., window: _Optional[int] = ..., tripped: bool = ..., reason: _Optional[str] = ..., tripped_at: _Optional[float] = ...) -> None: ...

class VersionTraffic(_message.Message):
    __slots__ = ("version", "requests", "errors", "latency_p50_ms", "latency_p99_ms", "loaded")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_MS_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    version: str
    requests: int
    errors: int
    latency_p50_ms: float
    latency_p99_ms: float
    loaded: bool
    def __init__(self, version: _Optional[str] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., latency_p50_ms: _Optional[float] = ..., latency_p99_ms: _Optional[float] = ..., loaded: bool = ...) -> None: ...

class ShadowFigures(_message.Message):
    __slots__ = ("agree", "disagree", "shadow_error", "dropped", "mean_score_difference", "shadow_latency_p50_ms", "shadow_latency_p99_ms")
    AGREE_FIELD_NUMBER: _ClassVar[int]
    DISAGREE_FIELD_NUMBER: _ClassVar[int]
    SHADOW_ERROR_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    MEAN_SCORE_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    SHADOW_LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    SHADOW_LATENCY_P99_MS_FIELD_NUMBER: _ClassVar[int]
    agree: int
    disagree: int
    shadow_error: int
    dropped: int
    mean_score_difference: float
    shadow_latency_p50_ms: float
    shadow_latency_p99_ms: float
    def __init__(self, agree: _Optional[int] = ..., disagree: _Optional[int] = ..., shadow_error: _Optional[int] = ..., dropped: _Optional[int] = ..., mean_score_difference: _Optional[float] = ..., shadow_latency_p50_ms: _Optional[float] = ..., shadow_latency_p99_ms: _Optional[float] = ...) -> None: ...

class TrafficResponse(_message.Message):
    __slots__ = ("model", "serving", "split", "shadow_version", "shadow_fraction", "guards", "versions", "shadow", "changed_at", "changed_by", "message")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    SHADOW_VERSION_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FRACTION_FIELD_NUMBER: _ClassVar[int]
    GUARDS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    model: str
    serving: str
    split: _containers.RepeatedCompositeFieldContainer[TrafficWeight]
    shadow_version: str
    shadow_fraction: float
    guards: _containers.RepeatedCompositeFieldContainer[TrafficGuard]
    versions: _containers.RepeatedCompositeFieldContainer[VersionTraffic]
    shadow: ShadowFigures
    changed_at: float
    changed_by: str
    message: str
    def __init__(self, model: _Optional[str] = ..., serving: _Optional[str] = ..., split: _Optional[_Iterable[_Union[TrafficWeight, _Mapping]]] = ..., shadow_version: _Optional[str] = ..., shadow_fraction: _Optional[float] = ..., guards: _Optional[_Iterable[_Union[TrafficGuard, _Mapping]]] = ..., versions: _Optional[_Iterable[_Union[VersionTraffic, _Mapping]]] = ..., shadow: _Optional[_Union[ShadowFigures, _Mapping]] = ..., changed_at: _Optional[float] = ..., changed_by: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ShadowSampleRow(_message.Message):
    __slots__ = ("at", "input", "primary_version", "primary_label", "primary_score", "shadow_version", "shadow_label", "shadow_score", "outcome", "score_difference")
    AT_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_LABEL_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_SCORE_FIELD_NUMBER: _ClassVar[int]
    SHADOW_VERSION_FIELD_NUMBER: _ClassVar[int]
    SHADOW_LABEL_FIELD_NUMBER: _ClassVar[int]
    SHADOW_SCORE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SCORE_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    at: float
    input: str
    primary_version: str
    primary_label: str
    primary_score: _containers.RepeatedScalarFieldContainer[float]
    shadow_version: str
    shadow_label: str
    shadow_score: _containers.RepeatedScalarFieldContainer[float]
    outcome: str
    score_difference: float
    def __init__(self, at: _Optional[float] = ..., input: _Optional[str] = ..., primary_version: _Optional[str] = ..., primary_label: _Optional[str] = ..., primary_score: _Optional[_Iterable[float]] = ..., shadow_version: _Optional[str] = ..., shadow_label: _Optional[str] = ..., shadow_score: _Optional[_Iterable[float]] = ..., outcome: _Optional[str] = ..., score_difference: _Optional[float] = ...) -> None: ...

class ShadowSampleResponse(_message.Message):
    __slots__ = ("rows", "data_name")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    DATA_NAME_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[ShadowSampleRow]
    data_name: str
    def __init__(self, rows: _Optional[_Iterable[_Union[ShadowSampleRow, _Mapping]]] = ..., data_name: _Optional[str] = ...) -> None: ...

class DeleteModelRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteEvaluationDataRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class ModelHistoryRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelSwitch(_message.Message):
    __slots__ = ("at", "to_name", "to_sha256", "from_name", "from_sha256", "by", "result", "rollback", "traffic")
    AT_FIELD_NUMBER: _ClassVar[int]
    TO_NAME_FIELD_NUMBER: _ClassVar[int]
    TO_SHA256_FIELD_NUMBER: _ClassVar[int]
    FROM_NAME_FIELD_NUMBER: _ClassVar[int]
    FROM_SHA256_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    at: float
    to_name: str
    to_sha256: str
    from_name: str
    from_sha256: str
    by: str
    result: str
    rollback: bool
    traffic: str
    def __init__(self, at: _Optional[float] = ..., to_name: _Optional[str] = ..., to_sha256: _Optional[str] = ..., from_name: _Optional[str] = ..., from_sha256: _Optional[str] = ..., by: _Optional[str] = ..., result: _Optional[str] = ..., rollback: bool = ..., traffic: _Optional[str] = ...) -> None: ...

class ModelHistoryResponse(_message.Message):
    __slots__ = ("switches",)
    SWITCHES_FIELD_NUMBER: _ClassVar[int]
    switches: _containers.RepeatedCompositeFieldContainer[ModelSwitch]
    def __init__(self, switches: _Optional[_Iterable[_Union[ModelSwitch, _Mapping]]] = ...) -> None: ...

class RollbackModelRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "size", "sha256", "uploaded_at", "active")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    UPLOADED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    name: str
    size: int
    sha256: str
    uploaded_at: float
    active: bool
    def __init__(self, name: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., uploaded_at: _Optional[float] = ..., active: bool = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "serving")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    serving: str
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., serving: _Optional[str] = ...) -> None: ...

class ArrString(_message.Message):
    __slots__ = ("val",)
    VAL_FIELD_NUMBER: _ClassVar[int]
    val: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, val: _Optional[_Iterable[str]] = ...) -> None: ...

class Tensor(_message.Message):
    __slots__ = ("shape", "val")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    VAL_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    val: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., val: _Optional[_Iterable[float]] = ...) -> None: ...

class IO(_message.Message):
    __slots__ = ("tensor", "str")
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    STR_FIELD_NUMBER: _ClassVar[int]
    tensor: Tensor
    str: ArrString
    def __init__(self, tensor: _Optional[_Union[Tensor, _Mapping]] = ..., str: _Optional[_Union[ArrString, _Mapping]] = ...) -> None: ...

class ServiceInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServiceInfoResponse(_message.Message):
    __slots__ = ("application_name", "service_name", "service_level", "model_name", "model_sha256")
    APPLICATION_NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_SHA256_FIELD_NUMBER: _ClassVar[int]
    application_name: str
    service_name: str
    service_level: str
    model_name: str
    model_sha256: str
    def __init__(self, application_name: _Optional[str] = ..., service_name: _Optional[str] = ..., service_level: _Optional[str] = ..., model_name: _Optional[str] = ..., model_sha256: _Optional[str] = ...) -> None: ...

class UploadModelRequest(_message.Message):
    __slots__ = ("path", "data")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    path: str
    data: bytes
    def __init__(self, path: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class SwitchModelRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class ModelResponse(_message.Message):
    __slots__ = ("status", "message")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    status: int
    message: str
    def __init__(self, status: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class UploadEvaluationDataRequest(_message.Message):
    __slots__ = ("data", "data_path")
    DATA_FIELD_NUMBER: _ClassVar[int]
    DATA_PATH_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    data_path: str
    def __init__(self, data: _Optional[bytes] = ..., data_path: _Optional[str] = ...) -> None: ...

class UploadEvaluationDataResponse(_message.Message):
    __slots__ = ("status", "message")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    status: int
    message: str
    def __init__(self, status: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class EvaluateModelRequest(_message.Message):
    __slots__ = ("data", "data_path", "result_path")
    DATA_FIELD_NUMBER: _ClassVar[int]
    DATA_PATH_FIELD_NUMBER: _ClassVar[int]
    RESULT_PATH_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    data_path: str
    result_path: str
    def __init__(self, data: _Optional[bytes] = ..., data_path: _Optional[str] = ..., result_path: _Optional[str] = ...) -> None: ...

class EvaluationMetrics(_message.Message):
    __slots__ = ("num", "accuracy", "precision", "recall", "fvalue", "option", "labels")
    class OptionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NUM_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    RECALL_FIELD_NUMBER: _ClassVar[int]
    FVALUE_FIELD_NUMBER: _ClassVar[int]
    OPTION_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    num: int
    accuracy: float
    precision: _containers.RepeatedScalarFieldContainer[float]
    recall: _containers.RepeatedScalarFieldContainer[float]
    fvalue: _containers.RepeatedScalarFieldContainer[float]
    option: _containers.ScalarMap[str, float]
    labels: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, num: _Optional[int] = ..., accuracy: _Optional[float] = ..., precision: _Optional[_Iterable[float]] = ..., recall: _Optional[_Iterable[float]] = ..., fvalue: _Optional[_Iterable[float]] = ..., option: _Optional[_Mapping[str, float]] = ..., labels: _Optional[_Iterable[str]] = ...) -> None: ...

class EvaluateModelResponse(_message.Message):
    __slots__ = ("metrics",)
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: EvaluationMetrics
    def __init__(self, metrics: _Optional[_Union[EvaluationMetrics, _Mapping]] = ...) -> None: ...

class EvaluationResultRequest(_message.Message):
    __slots__ = ("data_path", "result_path")
    DATA_PATH_FIELD_NUMBER: _ClassVar[int]
    RESULT_PATH_FIELD_NUMBER: _ClassVar[int]
    data_path: str
    result_path: str
    def __init__(self, data_path: _Optional[str] = ..., result_path: _Optional[str] = ...) -> None: ...

class EvaluationResultResponse(_message.Message):
    __slots__ = ("metrics", "detail")
    class Detail(_message.Message):
        __slots__ = ("input", "label", "output", "score", "is_correct")
        INPUT_FIELD_NUMBER: _ClassVar[int]
        LABEL_FIELD_NUMBER: _ClassVar[int]
        OUTPUT_FIELD_NUMBER: _ClassVar[int]
        SCORE_FIELD_NUMBER: _ClassVar[int]
        IS_CORRECT_FIELD_NUMBER: _ClassVar[int]
        input: IO
        label: IO
        output: IO
        score: _containers.RepeatedScalarFieldContainer[float]
        is_correct: bool
        def __init__(self, input: _Optional[_Union[IO, _Mapping]] = ..., label: _Optional[_Union[IO, _Mapping]] = ..., output: _Optional[_Union[IO, _Mapping]] = ..., score: _Optional[_Iterable[float]] = ..., is_correct: bool = ...) -> None: ...
    METRICS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    metrics: EvaluationMetrics
    detail: _containers.RepeatedCompositeFieldContainer[EvaluationResultResponse.Detail]
    def __init__(self, metrics: _Optional[_Union[EvaluationMetrics, _Mapping]] = ..., detail: _Optional[_Iterable[_Union[EvaluationResultResponse.Detail, _Mapping]]] = ...) -> None: ...

class Option(_message.Message):
    __slots__ = ("val",)
    VAL_FIELD_NUMBER: _ClassVar[int]
    val: str
    def __init__(self, val: _Optional[str] = ...) -> None: ...

class StringInput(_message.Message):
    __slots__ = ("input", "option")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OPTION_FIELD_NUMBER: _ClassVar[int]
    input: str
    option: Option
    def __init__(self, input: _Optional[str] = ..., option: _Optional[_Union[Option, _Mapping]] = ...) -> None: ...

class BytesInput(_message.Message):
    __slots__ = ("input", "option")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OPTION_FIELD_NUMBER: _ClassVar[int]
    input: bytes
    option: Option
    def __init__(self, input: _Optional[bytes] = ..., option: _Optional[_Union[Option, _Mapping]] = ...) -> None: ...

class ArrIntInput(_message.Message):
    __slots__ = ("input", "option")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OPTION_FIELD_NUMBER: _ClassVar[int]
    input: _containers.RepeatedScalarFieldContainer[int]
    option: Option
    def __init__(self, input: _Optional[_Iterable[int]] = ..., option: _Optional[_Union[Option, _Mapping]] = ...) -> None: ...

class ArrFloatInput(_message.Message):
    __slots__ = ("input", "option")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OPTION_FIELD_NUMBER: _ClassVar[int]
    input: _containers.RepeatedScalarFieldContainer[float]
    option: Option
    def __init__(self, input: _Optional[_Iterable[float]] = ..., option: _Optional[_Union[Option, _Mapping]] = ...) -> None: ...

class ArrStringInput(_message.Message):
    __slots__ = ("input", "option")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OPTION_FIELD_NUMBER: _ClassVar[int]
    input: _containers.RepeatedScalarFieldContainer[str]
    option: Option
    def __init__(self, input: _Optional[_Iterable[str]] = ..., option: _Optional[_Union[Option, _Mapping]] = ...) -> None: ...

class StringOutput(_message.Message):
    __slots__ = ("output", "score", "option")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    OPTION_FIELD_NUMBER: _ClassVar[int]
    output: str
    score: float
    option: Option
    def __init__(self, output: _Optional[str] = ..., score: _Optional[float] = ..., option: _Optional[_Union[Option, _Mapping]] = ...) -> None: ...

class BytesOutput(_message.Message):
    __slots__ = ("output", "score", "option")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    OPTION_FIELD_NUMBER: _ClassVar[int]
    output: bytes
    score: float
    option: Option
    def __init__(self, output: _Optional[bytes] = ..., score: _Optional[float] = ..., option: _Optional[_Union[Option, _Mapping]] = ...) -> None: ...

class ArrIntOutput(_message.Message):
    __slots__ = ("output", "score", "option")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    OPTION_FIELD_NUMBER: _ClassVar[int]
    output: _containers.RepeatedScalarFieldContainer[int]
    score: _containers.RepeatedScalarFieldContainer[float]
    option: Option
    def __init__(self, output: _Optional[_Iterable[int]] = ..., score: _Optional[_Iterable[float]] = ..., option: _Optional[_Union[Option, _Mapping]] = ...) -> None: ...

class ArrFloatOutput(_message.Message):
    __slots__ = ("output", "score", "option")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    OPTION_FIELD_NUMBER: _ClassVar[int]
    output: _containers.RepeatedScalarFieldContainer[float]
    score: _containers.RepeatedScalarFieldContainer[float]
    option: Option
    def __init__(self, output: _Optional[_Iterable[float]] = ..., score: _Optional[_Iterable[float]] = ..., option: _Optional[_Union[Option, _Mapping]] = ...) -> None: ...

class ArrStringOutput(_message.Message):
    __slots__ = ("output", "score", "option")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    OPTION_FIELD_NUMBER: _ClassVar[int]
    output: _containers.RepeatedScalarFieldContainer[str]
    score: _containers.RepeatedScalarFieldContainer[float]
    option: Option
    def __init__(self, output: _Optional[_Iterable[str]] = ..., score: _Optional[_Iterable[float]] = ..., option: _Optional[_Union[Option, _Mapping]] = ...) -> None: ...

class ListEvaluationResultsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StoredEvaluationResult(_message.Message):
    __slots__ = ("name", "metrics", "stored_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    STORED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    metrics: EvaluationMetrics
    stored_at: float
    def __init__(self, name: _Optional[str] = ..., metrics: _Optional[_Union[EvaluationMetrics, _Mapping]] = ..., stored_at: _Optional[float] = ...) -> None: ...

class ListEvaluationResultsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[StoredEvaluationResult]
    def __init__(self, results: _Optional[_Iterable[_Union[StoredEvaluationResult, _Mapping]]] = ...) -> None: ...
