"""The exception hierarchy of drucker.

Each class names the gRPC status code it maps to in ``status`` (a ``grpc.StatusCode`` member
name), so the mapping lives here in one place while this module stays free of gRPC imports.
"""

from __future__ import annotations


class DruckerError(Exception):
    """Base class of every error drucker raises on purpose."""

    status: str = "INTERNAL"


class ConfigurationError(DruckerError):
    """A settings file, a bundle spec or a command-line value is wrong (start-up error)."""

    status = "FAILED_PRECONDITION"


class PluginError(DruckerError):
    """A plugin cannot be found or loaded, or the set of plugins is inconsistent."""

    status = "FAILED_PRECONDITION"


class InvalidInputError(DruckerError, ValueError):
    """The request is malformed or its value was rejected by the plugin."""

    status = "INVALID_ARGUMENT"


class OutputKindError(DruckerError):
    """The plugin's label or score cannot be represented as the rpc's output kind."""

    status = "INVALID_ARGUMENT"


class PluginFailure(DruckerError):
    """The plugin raised an unexpected exception while serving a request."""

    status = "INTERNAL"


class ModelNotLoadedError(DruckerError):
    """No model is serving yet."""

    status = "UNAVAILABLE"


class ModelLoadError(DruckerError):
    """The plugin could not load a model file; whatever was serving keeps serving."""

    status = "FAILED_PRECONDITION"


class NotFoundError(DruckerError):
    """A named model, data set, result or bundle does not exist."""

    status = "NOT_FOUND"


class AlreadyExistsError(DruckerError):
    """A named item exists already and may not be replaced."""

    status = "ALREADY_EXISTS"


class InUseError(DruckerError):
    """A named item cannot be removed while it is in use (e.g. the serving model)."""

    status = "FAILED_PRECONDITION"


class InvalidNameError(DruckerError, ValueError):
    """A model, data or bundle name is unsafe or malformed (e.g. a path traversal)."""

    status = "INVALID_ARGUMENT"


class TooLargeError(DruckerError):
    """An upload exceeds the configured maximum size."""

    status = "RESOURCE_EXHAUSTED"


class UnauthenticatedError(DruckerError):
    """A management call came without a valid bearer token."""

    status = "UNAUTHENTICATED"


class StorageError(DruckerError):
    """The server's storage failed (an I/O error, a directory where a file belongs)."""

    status = "INTERNAL"


class StorageFullError(StorageError):
    """The server's storage is full (no space left, quota exceeded, file size limit)."""

    status = "RESOURCE_EXHAUSTED"


_FULL = frozenset({28, 122, 27})  # ENOSPC, EDQUOT, EFBIG


def storage_error(exc: OSError) -> StorageError:
    """The drucker error for an operating-system error of the store (no paths in the text)."""
    reason = exc.strerror or type(exc).__name__
    if exc.errno in _FULL:
        return StorageFullError(f"the server's storage is full: {reason}")
    return StorageError(f"the server's storage failed: {reason}")


class StoreUnavailableError(DruckerError):
    """The model store cannot be reached or refused a read or write (network, disk, rights)."""

    status = "UNAVAILABLE"


class ConflictError(DruckerError):
    """A compare-and-set in the store lost: the record changed since it was read."""

    status = "ABORTED"


class OverloadedError(DruckerError):
    """Too many predictions wait for the model already: the request is refused at once.

    ``retry_after_ms`` says when trying again is likely to succeed (gRPC's
    ``grpc-retry-pushback-ms`` trailer, HTTP's ``Retry-After``); negative: do not retry.
    """

    status = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, retry_after_ms: int) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class DeadlineExceededError(DruckerError):
    """The caller's deadline passed before its prediction could start (it is never run), or
    before a switch was committed (it is abandoned)."""

    status = "DEADLINE_EXCEEDED"


class CallerGoneError(DruckerError):
    """The caller cancelled (or disconnected) before its prediction started: it is never run."""

    status = "CANCELLED"
