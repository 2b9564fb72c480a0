"""The performance targets as ratios between targets measured in the same run."""

from __future__ import annotations

import operator
import statistics
from typing import Any

DRUCKER = "drucker-tuned-1p"  # one process, predictions on the event loop, logs off
DEFAULT = "drucker"
FLOOR = "floor"
MLSERVER = "mlserver-1.7.1"
ORIGINAL = "drucker-0.4.5"
V2 = "drucker-v2"
UNBATCHED = "drucker-tuned-1p-unbatched"
NO_METRICS = "drucker-tuned-1p-nometrics"

_COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le}


def _median(results: dict[str, Any], target: str, level: int, field: str) -> float | None:
    result = results.get(target)
    if not result or "runs" not in result:
        return None
    runs = result["runs"].get(level) or result["runs"].get(str(level))
    return statistics.median(run[field] for run in runs) if runs else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def lines(results: dict[str, Any]) -> list[str]:
    """One line per target: the figure, the goal, and whether this run met it."""

    def rps(target: str, level: int) -> float | None:
        return _median(results, target, level, "rps")

    def p50(target: str, level: int) -> float | None:
        return _median(results, target, level, "p50_ms")

    def cpu(target: str, level: int) -> float | None:
        return _median(results, target, level, "server_cpu_per_1000")

    overhead = _ratio(rps(DRUCKER, 1), rps(FLOOR, 1))
    checks: list[tuple[str, float | None, str, float]] = [
        ("c=32 req/s, drucker / MLServer", _ratio(rps(DRUCKER, 32), rps(MLSERVER, 32)), ">=", 3),
        (
            "c=32 req/s, drucker / drucker 0.4.5",
            _ratio(rps(DRUCKER, 32), rps(ORIGINAL, 32)),
            ">=",
            2,
        ),
        (
            "c=32 req/s, drucker defaults / MLServer",
            _ratio(rps(DEFAULT, 32), rps(MLSERVER, 32)),
            ">=",
            3,
        ),
        ("c=1 p50, drucker / MLServer", _ratio(p50(DRUCKER, 1), p50(MLSERVER, 1)), "<=", 0.5),
        (
            "c=1 p50, drucker with batching off / MLServer",
            _ratio(p50(UNBATCHED, 1), p50(MLSERVER, 1)),
            "<=",
            0.5,
        ),
        (
            "c=1 req/s overhead over the floor, 1 process",
            None if overhead is None else 1 - overhead,
            "<=",
            0.25,
        ),
        ("c=32 req/s, batched drucker / floor", _ratio(rps(DRUCKER, 32), rps(FLOOR, 32)), ">", 1),
        (
            "c=32 server CPU per 1k, drucker / MLServer",
            _ratio(cpu(DRUCKER, 32), cpu(MLSERVER, 32)),
            "<=",
            1 / 3,
        ),
        ("c=32 req/s, V2: drucker / MLServer", _ratio(rps(V2, 32), rps(MLSERVER, 32)), ">=", 3),
        (
            "c=32 req/s, metrics on / off",
            _ratio(rps(DRUCKER, 32), rps(NO_METRICS, 32)),
            ">=",
            0.95,
        ),
    ]
    drucker = results.get(DRUCKER, {})
    checks += [
        ("cold start s, drucker", drucker.get("cold_start_s"), "<=", 1.5),
        ("peak RSS MiB, one drucker process", drucker.get("peak_rss_mib"), "<=", 150),
    ]
    errors = sum(
        run["errors"]
        for result in results.values()
        for runs in result.get("runs", {}).values()
        for run in runs
    )
    checks.append(("errors in all runs", errors, "<=", 0))
    out = []
    for label, value, comparison, bound in checks:
        goal = f"{comparison} {bound:.3g}"
        if value is None:
            out.append(f"- {label}: not measured in this run (goal {goal})")
        else:
            verdict = "met" if _COMPARISONS[comparison](value, bound) else "MISSED"
            out.append(f"- {label}: {value:.3g} (goal {goal}: {verdict})")
    return out
