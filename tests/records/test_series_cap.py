"""The series cap and the record points built from the totals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from otel_dify.records.levels import Level
from otel_dify.records.points import merge_points, record_points
from otel_dify.records.recorder import RecordStats
from otel_dify.records.series_cap import cap_series
from otel_dify.records.state import RecordState
from otel_dify.snapshot import Point, Snapshot
from tests.records.support import WORKFLOW_APP_ID, context

ALL = frozenset(
    {
        "dify.workflow.runs",
        "dify.workflow.tokens",
        "dify.llm.cost",
        "dify.exporter.records.backlog",
        "dify.exporter.records.dropped",
        "dify.exporter.records.requests",
        "dify.exporter.records.series_overflow",
    }
)


def points(count: int) -> list[Point]:
    return [Point({"n": str(number)}, float(number)) for number in range(count)]


def test_cap_keeps_small_lists() -> None:
    kept, folded = cap_series(points(3), 3)

    assert folded == 0
    assert len(kept) == 3


def test_cap_folds_excess_into_overflow() -> None:
    kept, folded = cap_series(points(10), 4)

    assert folded == 7
    assert len(kept) == 4
    assert [point.attributes for point in kept[:3]] == [{"n": "0"}, {"n": "1"}, {"n": "2"}]
    assert kept[3].attributes == {"otel.metric.overflow": True}
    assert kept[3].value == sum(range(3, 10))


def test_cap_below_two_rejected() -> None:
    with pytest.raises(ValueError):
        cap_series(points(3), 1)


def state_with_runs(apps: int) -> RecordState:
    state = RecordState(started_at=0)
    for number in range(apps):
        state.totals.add("dify.workflow.runs", f"app-{number}", {"dify.workflow.run.status": "succeeded"}, number + 1)
    return state


def test_points_carry_app_attributes() -> None:
    state = RecordState(started_at=0)
    state.totals.add("dify.llm.cost", WORKFLOW_APP_ID, {"dify.cost.currency": "USD"}, Decimal("0.25"))

    result = record_points(state, {WORKFLOW_APP_ID: context()}, RecordStats(), frozenset(Level), ALL, max_series=100)

    (point,) = result["dify.llm.cost"]
    assert point.value == 0.25
    assert point.attributes["dify.app.id"] == WORKFLOW_APP_ID
    assert point.attributes["dify.app.name"] == "Invoice Extractor"
    assert point.attributes["dify.workspace.id"] == "ws-1"
    assert point.attributes["dify.cost.currency"] == "USD"


def test_points_skip_unlisted_and_disabled() -> None:
    state = RecordState(started_at=0)
    state.totals.add("dify.workflow.runs", "gone", {}, 1)
    state.totals.add("dify.workflow.tokens", WORKFLOW_APP_ID, {}, 5)

    result = record_points(
        state,
        {WORKFLOW_APP_ID: context()},
        RecordStats(),
        frozenset(Level),
        ALL - {"dify.workflow.tokens"},
        max_series=100,
    )

    assert "dify.workflow.runs" not in result
    assert "dify.workflow.tokens" not in result


def test_points_series_cap_and_overflow_metric() -> None:
    state = state_with_runs(6)
    contexts = {f"app-{number}": context(f"app-{number}") for number in range(6)}

    result = record_points(state, contexts, RecordStats(), frozenset(Level), ALL, max_series=4)

    runs = result["dify.workflow.runs"]
    assert len(runs) == 4
    assert runs[-1].attributes == {"otel.metric.overflow": True}
    assert runs[-1].value == 4 + 5 + 6
    assert sum(point.value for point in runs) == sum(range(1, 7))
    assert [(point.attributes, point.value) for point in result["dify.exporter.records.series_overflow"]] == [
        ({"dify.metric.name": "dify.workflow.runs"}, 3.0)
    ]


def test_overflow_keeps_oldest_series() -> None:
    state = state_with_runs(5)
    contexts = {f"app-{number}": context(f"app-{number}") for number in range(6)}
    first = record_points(state, contexts, RecordStats(), frozenset(Level), ALL, max_series=3)
    state.totals.add("dify.workflow.runs", "app-5", {"dify.workflow.run.status": "succeeded"}, 1)

    second = record_points(state, contexts, RecordStats(), frozenset(Level), ALL, max_series=3)

    assert [point.attributes for point in first["dify.workflow.runs"][:2]] == [
        point.attributes for point in second["dify.workflow.runs"][:2]
    ]
    assert second["dify.workflow.runs"][-1].value == first["dify.workflow.runs"][-1].value + 1


def test_self_points() -> None:
    state = RecordState(started_at=0)
    stats = RecordStats()
    stats.request(Level.LLM_USAGE)
    stats.request(Level.LLM_USAGE)
    stats.dropped = 3

    result = record_points(state, {}, stats, frozenset({Level.LLM_USAGE, Level.WORKFLOW_RUNS}), ALL, max_series=10)

    assert [point.value for point in result["dify.exporter.records.backlog"]] == [0.0]
    assert [point.value for point in result["dify.exporter.records.dropped"]] == [3.0]
    assert {
        point.attributes["dify.records.level"]: point.value for point in result["dify.exporter.records.requests"]
    } == {
        "llm_usage": 2.0,
        "workflow_runs": 0.0,
    }


def test_merge_points_keeps_both() -> None:
    base = Snapshot.build({"dify.apps": [Point({"a": "1"}, 1.0)]})

    merged = merge_points(base, {"dify.workflow.runs": [Point({"b": "2"}, 2.0)]})

    assert [point.value for point in merged.get("dify.apps")] == [1.0]
    assert [point.value for point in merged.get("dify.workflow.runs")] == [2.0]
