"""The server's memory policy built directly: settle and thaw, the collector pause, the trim."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable, Iterator

import pytest

from drucker.server.memory import BIG_MESSAGE_BYTES, TRIM_DELAY_SECONDS, MemoryPolicy


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_settle_freezes_and_thaw_gives_the_heap_back() -> None:
    policy = MemoryPolicy(trim=False)
    try:
        policy.settle()
        assert gc.get_freeze_count() > 0
        policy.thaw()
        assert gc.get_freeze_count() == 0
        policy.thaw()  # nothing frozen: nothing to do
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


@pytest.mark.usefixtures("collector_on")
def test_the_collector_stays_off_while_any_paused_block_runs() -> None:
    policy = MemoryPolicy(trim=False)
    inside = threading.Event()
    leave = threading.Event()

    def other() -> None:
        with policy.collector_paused():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    with policy.collector_paused():
        assert not gc.isenabled()
        thread.start()
        assert inside.wait(10)
    assert not gc.isenabled()  # the other block still runs
    leave.set()
    thread.join(10)
    assert gc.isenabled()


def test_a_pause_leaves_a_collector_that_was_off_off() -> None:
    policy = MemoryPolicy(trim=False)
    was = gc.isenabled()
    gc.disable()
    try:
        with policy.collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


def test_one_trim_is_scheduled_after_rpcs_that_received_a_big_message() -> None:
    trims: list[int] = []
    scheduled: list[tuple[float, Callable[[], None]]] = []
    policy = MemoryPolicy()
    policy._trim = trims.append  # the libc call, observed

    async def rpcs() -> None:
        loop = asyncio.get_running_loop()
        loop.call_later = lambda delay, run: scheduled.append((delay, run))  # type: ignore[method-assign,assignment,misc]
        policy.note_message(BIG_MESSAGE_BYTES - 1)
        policy.after_rpc()
        assert scheduled == []  # small messages schedule nothing
        policy.note_message(BIG_MESSAGE_BYTES)
        policy.after_rpc()
        policy.after_rpc()  # at most one pending

    asyncio.run(rpcs())
    [(delay, run)] = scheduled
    assert delay == TRIM_DELAY_SECONDS
    run()
    assert trims == [0] and not policy.big_message_seen
