"""The SDK's own attempts (``attempt_timeout``): when to try again, and what says so."""

from __future__ import annotations

import grpc
import pytest

from drucker._wire import drucker_pb2_grpc
from drucker.admission import RETRY_METADATA_KEYS, retried
from drucker.client._attempts import ATTEMPT_METADATA_KEY, AttemptPolicy, attempt_metadata
from drucker.client._channel import RETRIED_METHODS, retried_calls, service_config


class Failure(grpc.RpcError):
    """An rpc's failure as gRPC raises it: a status code and trailing metadata."""

    def __init__(self, code: grpc.StatusCode, *trailers: tuple[str, str]) -> None:
        self._code, self._trailers = code, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailers


POLICY = AttemptPolicy(max_attempts=4, attempt_timeout=2.0)
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_refusal_is_retried_after_its_pushback_and_never_after_a_negative_one() -> None:
    assert POLICY.wait(Failure(EXHAUSTED, ("grpc-retry-pushback-ms", "1500")), 1, True) == 1.5
    assert POLICY.wait(Failure(EXHAUSTED, ("grpc-retry-pushback-ms", "0")), 1, True) == 0.0
    for refusal in ("-1", "soon", ""):  # gRPC's rule: not a non-negative integer, no retry
        assert POLICY.wait(Failure(EXHAUSTED, ("grpc-retry-pushback-ms", refusal)), 1, True) is None


def test_without_a_pushback_the_wait_is_grpc_s_jittered_exponential_backoff() -> None:
    for attempt, ceiling in ((1, 0.1), (2, 0.2), (3, 0.4)):
        waits = [
            POLICY.wait(Failure(grpc.StatusCode.UNAVAILABLE), attempt, True) for _ in range(200)
        ]
        assert all(w is not None and 0 <= w <= ceiling for w in waits)
        assert max(w for w in waits if w is not None) > ceiling / 2  # spread over the range
    capped = AttemptPolicy(max_attempts=5, attempt_timeout=1.0, max_backoff=0.3)
    assert all(
        (capped.wait(Failure(grpc.StatusCode.UNAVAILABLE), 4, True) or 0) <= 0.3 for _ in range(50)
    )


def test_only_an_attempt_that_ran_out_its_own_deadline_is_tried_again() -> None:
    late = Failure(grpc.StatusCode.DEADLINE_EXCEEDED)
    assert POLICY.wait(late, 1, own_deadline=True) == 0.0
    assert POLICY.wait(late, 1, own_deadline=False) is None  # the call's deadline: over


def test_other_failures_and_the_last_attempt_end_the_call() -> None:
    assert POLICY.wait(Failure(grpc.StatusCode.INVALID_ARGUMENT), 1, True) is None
    assert POLICY.wait(Failure(grpc.StatusCode.UNAVAILABLE), 4, True) is None
    assert POLICY.wait(Failure(EXHAUSTED, ("grpc-retry-pushback-ms", "10")), 4, True) is None


def test_the_attempt_deadline_is_its_own_or_what_is_left_of_the_call() -> None:
    assert POLICY.timeout(10.0) == 2.0
    assert POLICY.timeout(0.5) == 0.5
    with pytest.raises(ValueError, match="attempt_timeout"):
        AttemptPolicy(max_attempts=2, attempt_timeout=0)


def test_later_attempts_say_so_as_the_server_reads_it() -> None:
    base = (("authorization", "Bearer t"),)
    assert attempt_metadata(base, 1) == base
    second = attempt_metadata(base, 2)
    assert second == (*base, (ATTEMPT_METADATA_KEY, "1"))
    assert ATTEMPT_METADATA_KEY in RETRY_METADATA_KEYS  # the server's name for it

    class Caller:
        def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
            self.metadata = metadata

        def time_remaining(self) -> float | None:
            return None

        def cancelled(self) -> bool:
            return False

        def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
            return self.metadata

    assert retried(Caller(second))
    assert retried(Caller((("grpc-previous-rpc-attempts", "1"),)))  # gRPC's own retries
    assert not retried(Caller(base))


def test_the_client_retries_itself_exactly_what_grpc_s_policy_would() -> None:
    with grpc.insecure_channel("127.0.0.1:1") as channel:  # never connected
        worker = drucker_pb2_grpc.DruckerWorkerStub(channel)
        dashboard = drucker_pb2_grpc.DruckerDashboardStub(channel)
        calls = retried_calls(
            {"drucker.DruckerWorker": worker, "drucker.DruckerDashboard": dashboard}
        )
    assert worker.Predict_String_String in calls
    assert worker.Predict_ArrFloat_ArrFloat in calls
    assert dashboard.ServiceInfo in calls
    assert dashboard.ListModels in calls
    assert dashboard.UploadModel not in calls  # not idempotent: never retried
    assert dashboard.SwitchModel not in calls
    assert dashboard.EvaluateModel not in calls
    assert len(RETRIED_METHODS) >= 4
    assert "retryPolicy" not in service_config(1)  # own attempts: gRPC retries nothing
