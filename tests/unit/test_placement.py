"""Placement: loop or thread per serving model, from call times handed to it (no clocks)."""

from __future__ import annotations

from drucker.placement import WINDOW, Placement

LIMIT = 0.001
FAST, SLOW = LIMIT / 10, LIMIT * 20


def feed(placement: Placement, model: object, *seconds: float) -> None:
    for value in seconds:
        placement.on_loop(model)
        placement.record(model, value)


def test_a_new_model_runs_in_threads_until_a_window_was_measured() -> None:
    placement, model = Placement(LIMIT), object()
    assert not placement.on_loop(model)
    feed(placement, model, *[FAST] * (WINDOW - 1))
    assert not placement.on_loop(model)
    feed(placement, model, FAST)
    assert placement.on_loop(model)


def test_a_slow_model_never_reaches_the_loop() -> None:
    placement, model = Placement(LIMIT), object()
    feed(placement, model, *[SLOW] * (10 * WINDOW))
    assert not placement.on_loop(model)


def test_a_few_slow_calls_in_a_window_are_forgiven() -> None:
    """A call pre-empted by the operating system is not a slow model."""
    placement, model = Placement(LIMIT), object()
    feed(placement, model, *[SLOW] * (WINDOW // 4), *[FAST] * (WINDOW - WINDOW // 4))
    assert placement.on_loop(model)
    feed(placement, model, *[SLOW, FAST] * (WINDOW // 2))  # half slow: stays
    assert placement.on_loop(model)


def test_a_model_that_turns_slow_leaves_the_loop_within_half_a_window() -> None:
    placement, model = Placement(LIMIT), object()
    feed(placement, model, *[FAST] * WINDOW)
    assert placement.on_loop(model)
    feed(placement, model, FAST, FAST, FAST)  # part of the next window
    feed(placement, model, *[SLOW] * (WINDOW // 2))
    assert placement.on_loop(model)
    feed(placement, model, SLOW)  # more than half of a window
    assert not placement.on_loop(model)
    feed(placement, model, *[FAST] * WINDOW)  # and comes back once quick again
    assert placement.on_loop(model)


def test_a_switched_model_is_measured_afresh_and_old_calls_do_not_count() -> None:
    placement, old, new = Placement(LIMIT), object(), object()
    feed(placement, old, *[FAST] * WINDOW)
    assert placement.on_loop(old)
    assert not placement.on_loop(new)
    placement.record(old, FAST)  # a call of the old model still finishing
    feed(placement, new, *[FAST] * (WINDOW - 1))
    assert not placement.on_loop(new)


def test_fixed_placements_ignore_measurements() -> None:
    model = object()
    loop, threads, off = Placement.fixed(True), Placement.fixed(False), Placement(0.0)
    for placement in (loop, threads, off):
        feed(placement, model, *[FAST] * (2 * WINDOW))
    assert loop.on_loop(model) and not loop.threads
    assert not threads.on_loop(model) and threads.threads
    assert not off.on_loop(model) and not off.adaptive
    assert not Placement(LIMIT, threads=False).adaptive
