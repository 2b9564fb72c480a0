"""The traffic panel's own logic: the split form, the guard form, the history with policy
changes, the live charts' figures and the shadow sample's comparison."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from drucker.client import ModelSwitch
from drucker.client.types import ShadowFigures, ShadowSampleRow, Traffic, VersionFigures
from drucker.dashboard.errors import Refused
from drucker.dashboard.history import merged_history, rollback_target
from drucker.dashboard.linecharts import line_chart
from drucker.dashboard.models import AuditEntry
from drucker.dashboard.pages.traffic import _change_of, split_of
from drucker.dashboard.shadowsample import SHADOW_ERROR, as_csv, compare, pairs
from drucker.dashboard.traffic import named_history, summary
from drucker.dashboard.trafficlive import Reading, agreement_points, latency_points


def test_the_split_form_gives_the_weights_above_zero() -> None:
    fields = {"csrf_token": "x", "weight:v1.joblib": "90", "weight:v2.joblib": "10.5"}
    fields |= {"weight:v3.joblib": "0", "weight:v4.joblib": ""}
    assert split_of(fields) == {"v1.joblib": 90.0, "v2.joblib": 10.5}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ten", "the weight of v2 is not a number: 'ten'"),
        ("-5", "the weight of v2 is negative: -5"),
        ("nan", "the weight of v2 is not a finite number: 'nan'"),
    ],
)
def test_a_bad_weight_is_refused_naming_its_version(value: str, message: str) -> None:
    with pytest.raises(Refused) as refused:
        split_of({"weight:v1": "50", "weight:v2": value})
    assert refused.value.status == 422 and refused.value.message == message


@pytest.mark.parametrize(
    ("action", "fields", "message"),
    [
        ("shadow", {"version": "v2", "fraction": "0"}, "the fraction is in (0, 1], e.g. 0.25"),
        ("shadow", {"version": "v2", "fraction": "1.5"}, "the fraction is in (0, 1], e.g. 0.25"),
        ("shadow", {"fraction": "0.5"}, "choose the shadow version"),
        ("guard", {"version": "v2"}, "give a maximum error rate, a minimum agreement or both"),
        (
            "guard",
            {"version": "v2", "max_error_rate": "2"},
            "the maximum error rate is a share in [0, 1], not 2",
        ),
        (
            "guard",
            {"version": "v2", "min_agreement": "0.9", "window": "2.5"},
            "the window is a whole number of requests (1 or more), not 2.5",
        ),
        ("promote", {}, "choose the version to promote"),
    ],
)
def test_bad_forms_are_refused_before_the_service_is_asked(
    action: str, fields: dict[str, str], message: str
) -> None:
    with pytest.raises(Refused) as refused:
        _change_of(action, fields)
    assert refused.value.status == 422 and refused.value.message == message


def test_good_forms_become_one_change_each() -> None:
    change, done = _change_of("shadow", {"version": "v2", "fraction": "0.25"})
    assert (change.action, change.what, done) == (
        "traffic shadow",
        "shadow v2 at 0.25",
        "shadowing v2",
    )
    change, _ = _change_of("guard", {"version": "v2", "max_error_rate": "0.1", "window": "50"})
    assert change.action == "traffic guard"
    change, _ = _change_of("split", {"weight:a": "70", "weight:b": "30"})
    assert change.what == "split a=70 b=30"


def policy(
    split: dict[str, float] | None = None,
    shadow: str = "",
    figures: ShadowFigures | None = None,
    versions: list[VersionFigures] | None = None,
) -> Traffic:
    return Traffic(
        model="iris",
        serving="a",
        split=split or {},
        shadow_version=shadow,
        shadow_fraction=0.5 if shadow else 0.0,
        guards=[],
        versions=versions or [],
        shadow=figures or ShadowFigures(),
        changed_at=0.0,
        changed_by="",
    )


def test_the_policy_in_one_line() -> None:
    assert summary(policy()) == "a serves all"
    assert summary(policy({"a": 90, "b": 10}, "c")) == "split a=90 b=10; shadow c at 0.5"


def test_the_history_shows_policy_changes_and_a_rollback_skips_them() -> None:
    service = [
        ModelSwitch(100, "b", "sha", "a", "sha", "host", "ok"),
        ModelSwitch(200, "", "", "", "", "host", "ok", traffic="split b=90 c=10"),
    ]
    rows = merged_history(service, [])
    assert [(r.traffic, r.to_model) for r in rows] == [("split b=90 c=10", ""), ("", "b")]
    assert rollback_target(rows) == "a"


def test_agreement_is_measured_between_readings_and_overall() -> None:
    readings = [
        Reading(0, policy(shadow="b", figures=ShadowFigures(agree=10, disagree=0))),
        Reading(2, policy(shadow="b", figures=ShadowFigures(agree=15, disagree=5))),
        Reading(4, policy(shadow="b", figures=ShadowFigures(agree=15, disagree=5))),  # none new
        Reading(6, policy(shadow="b", figures=ShadowFigures(agree=3, disagree=1))),  # restarted
        Reading(8, policy()),  # the shadow stopped
    ]
    points = agreement_points(readings)
    assert points["agreement (recent)"] == [(2, 0.5), (6, 0.75)]
    assert points["agreement (overall)"] == [(0, 1.0), (2, 0.75), (4, 0.75), (6, 0.75)]


def test_latency_lines_are_the_answering_versions_and_the_shadow() -> None:
    versions = [VersionFigures("a", 10, 0, 1.0, 2.0, True), VersionFigures("z", 5, 0, 9, 9, True)]
    figures = ShadowFigures(agree=1, shadow_latency_p50_ms=3.0, shadow_latency_p99_ms=4.0)
    series = latency_points([Reading(1, policy({"a": 100}, "b", figures, versions))])
    assert series == {
        "a p50": [(1, 1.0)],
        "a p99": [(1, 2.0)],
        "b (shadow) p50": [(1, 3.0)],
        "b (shadow) p99": [(1, 4.0)],
    }


def test_a_line_chart_scales_to_a_round_top_and_spans_the_readings() -> None:
    chart = line_chart({"p99": [(10.0, 3.0), (20.0, 7.0)]})
    assert [tick.text for tick in chart.y_ticks] == ["0", "5", "10"]
    first, last = (point.split(",") for point in chart.lines[0].points.split())
    assert float(first[0]) == chart.plot_left and float(last[0]) == chart.plot_right
    assert float(last[1]) < float(first[1])  # higher values are drawn higher


def row(at: float, mine: str, theirs: str | None, outcome: str) -> ShadowSampleRow:
    return ShadowSampleRow(at, [at], "a", mine, [0.9], "b", theirs, [0.8], outcome, 0.1)


def test_two_versions_compared_on_the_shadow_sample() -> None:
    rows = [
        row(1, "x", "x", "agree"),
        row(2, "x", "y", "disagree"),
        row(3, "y", None, "shadow_error"),
        row(4, "y", "y", "agree"),
    ]
    assert pairs(rows) == [("a", "b")]
    result = compare(rows, "a", "b")
    assert (result.num, result.agree, result.disagree, result.shadow_error) == (4, 2, 1, 1)
    assert result.agreement == pytest.approx(2 / 3)
    assert result.matrix_labels == ["x", "y", SHADOW_ERROR]
    assert result.matrix == [[1, 1, 0], [0, 1, 1], [0, 0, 0]]
    assert [(r.label, r.primary, r.shadow, r.agreed) for r in result.labels] == [
        ("x", 2, 1, 1),
        ("y", 2, 2, 1),
    ]
    assert [r.at for r in result.disagreements] == [3, 2]  # the newest first
    lines = as_csv(rows).splitlines()
    assert lines[0].startswith("at,input,primary_version") and len(lines) == 5
    assert lines[3].endswith("b,,0.8,shadow_error,0.1")


def test_policy_changes_are_named_after_the_dashboard_user_who_made_them() -> None:
    def change(at: float, text: str) -> ModelSwitch:
        return ModelSwitch(at, "", "", "", "", "10.0.0.1:5 via host", "ok", traffic=text)

    def audited(at: float, action: str, user: str, target: str = "svc:1 iris") -> AuditEntry:
        return AuditEntry(at=at, action=action, user=user, target=target, ok=True)

    history = [
        change(104.0, "guard tripped: b: agreement 0.4"),
        change(103.0, "guard b: min agreement 0.9"),
        change(100.0, "shadow b 1"),
        change(50.0, "split a=50 b=50"),  # made with the CLI
    ]
    audit = [
        audited(103.1, "traffic guard", "ada"),
        audited(100.2, "traffic shadow", "bob"),
        audited(50.0, "traffic split", "eve", target="svc:2 iris"),  # another service
        audited(49.9, "switch", "eve"),
    ]
    named = [who for _, who in named_history(history, audit, "svc:1 iris")]
    assert named == ["10.0.0.1:5 via host", "ada", "bob", "10.0.0.1:5 via host"]
