"""A client call's budget: every rpc of it gets what is left of one deadline."""

from __future__ import annotations

import time

import grpc
import pytest

from drucker.client._budget import Budget
from drucker.client.errors import DeadlineExceeded


def test_each_rpc_gets_what_is_left_and_none_runs_past_the_end() -> None:
    budget = Budget(0.2)
    first = budget.left()
    assert 0.15 < first <= 0.2
    time.sleep(0.05)
    assert budget.left() < first - 0.04
    time.sleep(0.2)
    with pytest.raises(DeadlineExceeded) as spent:
        budget.left()
    assert spent.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
