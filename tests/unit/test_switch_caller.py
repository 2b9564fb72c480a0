"""Why a switch's caller is gone: its deadline or its cancel (the abandoned switch's record)."""

from __future__ import annotations

from drucker.admission import DEADLINE_SLACK_SECONDS, gone_reason
from drucker.protocol.drucker_dashboard import _WatchedCaller


class Context:
    """What a servicer context tells of its rpc: the seconds left of the deadline."""

    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining

    def time_remaining(self) -> float | None:
        return self.remaining

    def cancelled(self) -> bool:
        return False  # grpc's context may not say so when the client's deadline passed first


def test_a_cancel_just_before_the_deadline_is_the_deadline_s_and_stays_so() -> None:
    context = Context(DEADLINE_SLACK_SECONDS / 10)  # the client's timer, ahead by the transit
    caller = _WatchedCaller(context)
    assert gone_reason(caller) is None
    caller.leave()
    context.remaining = DEADLINE_SLACK_SECONDS / 20  # the switch's load ends a little later
    assert gone_reason(caller) == "deadline"


def test_a_cancel_well_before_the_deadline_or_without_one_is_the_caller_s() -> None:
    for remaining in (DEADLINE_SLACK_SECONDS * 10, None):
        caller = _WatchedCaller(Context(remaining))
        caller.leave()
        assert gone_reason(caller) == "cancelled"
