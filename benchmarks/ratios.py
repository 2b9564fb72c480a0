"""The performance targets as ratios between targets measured in the same run."""

from __future__ import annotations

import operator
import statistics
from typing import Any

DRUCKER = "drucker-tuned-1p"  # one process, predictions on the event loop, logs off
DEFAULT = "drucker"
FLOOR = "floor"
FLOOR_UVLOOP = "floor-uvloop"  # the floor on drucker's default event loop
MLSERVER = "mlserver-1.7.1"
ORIGINAL = "drucker-0.4.5"
V2 = "drucker-v2"
UNBATCHED = "drucker-tuned-1p-unbatched"
NO_METRICS = "drucker-tuned-1p-nometrics"
PLAIN = "drucker-plain"  # a plugin without the batch hook, default settings
PLAIN_TUNED = "drucker-plain-tuned"
ROWS = 64
SLOW_LEVEL = 8
REST = "drucker-rest"
MLSERVER_REST = "mlserver-1.7.1-rest"

_COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le}


def _median(results: dict[str, Any], target: str, level: int, field: str) -> float | None:
    result = results.get(target)
    if not result or "runs" not in result:
        return None
    runs = result["runs"].get(level) or result["runs"].get(str(level))
    return statistics.median(run[field] for run in runs) if runs else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _target_ratio(results: dict[str, Any], a: str, b: str, level: int, field: str) -> float | None:
    """Target a's median `field` at `level` concurrent requests over target b's."""
    return _ratio(_median(results, a, level, field), _median(results, b, level, field))


Check = tuple[str, float | None, str, float | None]  # label, figure, comparison, bound


def lines(results: dict[str, Any]) -> list[str]:
    """One line per target: the figure, the goal, and whether this run met it."""

    def ratio(a: str, b: str, level: int, field: str = "rps") -> float | None:
        return _target_ratio(results, a, b, level, field)

    overhead = ratio(DRUCKER, FLOOR, 1)
    checks: list[Check] = [
        ("c=32 req/s, drucker / MLServer", ratio(DRUCKER, MLSERVER, 32), ">=", 3),
        ("c=32 req/s, drucker / drucker 0.4.5", ratio(DRUCKER, ORIGINAL, 32), ">=", 2),
        ("c=32 req/s, drucker defaults / MLServer", ratio(DEFAULT, MLSERVER, 32), ">=", 3),
        ("c=1 p50, drucker / MLServer", ratio(DRUCKER, MLSERVER, 1, "p50_ms"), "<=", 0.5),
        (
            "c=1 p50, drucker with batching off / MLServer",
            ratio(UNBATCHED, MLSERVER, 1, "p50_ms"),
            "<=",
            0.5,
        ),
        (
            "c=1 req/s overhead over the floor, 1 process",
            None if overhead is None else 1 - overhead,
            "<=",
            0.25,
        ),
        ("c=32 req/s, batched drucker / floor", ratio(DRUCKER, FLOOR, 32), ">", 1),
        (
            "c=32 server CPU per 1k, drucker / MLServer",
            ratio(DRUCKER, MLSERVER, 32, "server_cpu_per_1000"),
            "<=",
            1 / 3,
        ),
        ("c=32 req/s, V2: drucker / MLServer", ratio(V2, MLSERVER, 32), ">=", 3),
        ("c=32 req/s, metrics on / off", ratio(DRUCKER, NO_METRICS, 32), ">=", 0.95),
        ("c=1 req/s, V2 REST: drucker / MLServer", ratio(REST, MLSERVER_REST, 1), ">=", 2),
        ("c=32 req/s, V2 REST: drucker / MLServer", ratio(REST, MLSERVER_REST, 32), ">=", 2),
        (
            "c=1 p50, V2 REST: drucker / MLServer",
            ratio(REST, MLSERVER_REST, 1, "p50_ms"),
            "<=",
            0.5,
        ),
    ]
    checks += _fast_by_default(results)
    drucker = results.get(DRUCKER, {})
    cold = drucker.get("cold_start_s")
    checks += [
        ("cold start s, drucker", statistics.median(cold) if cold else None, "<=", 1.5),
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
        goal = "no goal" if bound is None else f"goal {comparison} {bound:.3g}"
        if value is None:
            out.append(f"- {label}: not measured in this run ({goal})")
        elif bound is None:
            out.append(f"- {label}: {value:.3g} ({goal})")
        else:
            verdict = "met" if _COMPARISONS[comparison](value, bound) else "MISSED"
            out.append(f"- {label}: {value:.3g} ({goal}: {verdict})")
    return out


def _fast_by_default(results: dict[str, Any]) -> list[Check]:
    """The goals of "fast by default": default settings against the floor, MLServer, the tuned
    settings; slow models as safe as with threads; V2 rows/s; workers."""

    def ratio(a: str, b: str, level: int, field: str = "rps") -> float | None:
        return _target_ratio(results, a, b, level, field)

    checks: list[Check] = [
        ("c=1 req/s, plain plugin defaults / floor", ratio(PLAIN, FLOOR, 1), ">=", 0.95),
        ("c=1 p50, plain plugin defaults / floor", ratio(PLAIN, FLOOR, 1, "p50_ms"), "<=", 1.05),
        ("c=32 req/s, plain plugin defaults / floor", ratio(PLAIN, FLOOR, 32), ">=", 0.95),
        ("c=32 req/s, batch plugin defaults / floor", ratio(DEFAULT, FLOOR, 32), ">=", 1.8),
        ("c=32 req/s, floor on uvloop / floor", ratio(FLOOR_UVLOOP, FLOOR, 32), "", None),
        (
            "c=32 req/s, plain plugin defaults / floor on uvloop",
            ratio(PLAIN, FLOOR_UVLOOP, 32),
            "",
            None,
        ),
        (
            "c=1 p50, plain plugin defaults / MLServer",
            ratio(PLAIN, MLSERVER, 1, "p50_ms"),
            "<=",
            0.5,
        ),
        (
            "c=1 p50, batch plugin defaults / MLServer",
            ratio(DEFAULT, MLSERVER, 1, "p50_ms"),
            "<=",
            0.5,
        ),
    ]
    for label, default, tuned in (("plain", PLAIN, PLAIN_TUNED), ("batch", DEFAULT, DRUCKER)):
        checks += [
            (f"c=1 req/s, {label} plugin defaults / tuned", ratio(default, tuned, 1), ">=", 0.95),
            (
                f"c=1 p50, {label} plugin defaults / tuned",
                ratio(default, tuned, 1, "p50_ms"),
                "<=",
                1.05,
            ),
            (f"c=32 req/s, {label} plugin defaults / tuned", ratio(default, tuned, 32), ">=", 0.95),
        ]
    for label, stem in (
        ("20 ms model holding the GIL", "drucker-slow"),
        ("20 ms model releasing the GIL", "drucker-gil-free"),
    ):
        threads = f"{stem}-threads"
        checks += [
            (
                f"c={SLOW_LEVEL} req/s, {label}, defaults / always threads",
                ratio(stem, threads, SLOW_LEVEL),
                ">=",
                0.95,
            ),
            (
                f"c={SLOW_LEVEL} health-check p99, {label}, defaults / always threads",
                ratio(stem, threads, SLOW_LEVEL, "health_p99_ms"),
                "<=",
                1.2,
            ),
        ]
    for level in (1, 8):
        checks += [
            (
                f"c={level} rows/s of [{ROWS}, 20] V2 requests, drucker defaults / MLServer",
                ratio(f"drucker-v2x{ROWS}", f"mlserver-v2x{ROWS}", level, "rows_per_s"),
                ">=",
                5,
            ),
            (
                f"c={level} rows/s of [{ROWS}, 20] V2 requests, drucker defaults / floor",
                ratio(f"drucker-v2x{ROWS}", f"floor-v2x{ROWS}", level, "rows_per_s"),
                ">=",
                None,
            ),
        ]
    checks.append(
        (
            "c=32 req/s with a 2-process load generator, --workers 2 / 1 process",
            ratio("drucker-plain-workers2-2lg", "drucker-plain-2lg", 32),
            ">=",
            None,
        )
    )
    return checks
