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
    __slots__ = ("at", "to_name", "to_sha256", "from_name", "from_sha256", "by", "result", "rollback")
    AT_FIELD_NUMBER: _ClassVar[int]
    TO_NAME_FIELD_NUMBER: _ClassVar[int]
    TO_SHA256_FIELD_NUMBER: _ClassVar[int]
    FROM_NAME_FIELD_NUMBER: _ClassVar[int]
    FROM_SHA256_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    at: float
    to_name: str
    to_sha256: str
    from_name: str
    from_sha256: str
    by: str
    result: str
    rollback: bool
    def __init__(self, at: _Optional[float] = ..., to_name: _Optional[str] = ..., to_sha256: _Optional[str] = ..., from_name: _Optional[str] = ..., from_sha256: _Optional[str] = ..., by: _Optional[str] = ..., result: _Optional[str] = ..., rollback: bool = ...) -> None: ...

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
