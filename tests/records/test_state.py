"""Record state: seen ids, backlog, totals and the JSON round trip."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from otel_dify.records.models import RunRecord
from otel_dify.records.state import (
    Backlog,
    BacklogItem,
    EndUserTable,
    PendingMessage,
    PendingRun,
    RecordState,
    RecordTotals,
    SeenIds,
    Segment,
    StateFormatError,
)


def item(run_id: str, *, ready_at: int = 0, key: str = "console") -> BacklogItem:
    return BacklogItem(workspace_key=key, app_id="app-1", run_id=run_id, run_tokens=10, ready_at=ready_at)


def test_seen_bound_drops_oldest() -> None:
    seen = SeenIds(bound=2)
    seen.add("a", 1)
    seen.add("b", 2)
    seen.add("c", 3)

    assert "a" not in seen
    assert "b" in seen
    assert "c" in seen
    assert len(seen) == 2


def test_seen_prune_older_than() -> None:
    seen = SeenIds()
    seen.add("old", 100)
    seen.add("new", 200)

    seen.prune_older_than(150)

    assert "old" not in seen
    assert "new" in seen


def test_backlog_refuses_beyond_bound() -> None:
    backlog = Backlog(bound=2)

    assert backlog.push(item("r1"))
    assert backlog.push(item("r2"))
    assert not backlog.push(item("r3"))
    assert len(backlog) == 2


def test_backlog_take_ready_in_order() -> None:
    backlog = Backlog(bound=10)
    backlog.push(item("r1", ready_at=50))
    backlog.push(item("r2"))
    backlog.push(item("r3"))

    taken = backlog.take(5, now=10)

    assert [entry.run_id for entry in taken] == ["r2", "r3"]
    assert [entry.run_id for entry in backlog] == ["r1"]


def test_backlog_take_respects_count() -> None:
    backlog = Backlog(bound=10)
    for number in range(5):
        backlog.push(item(f"r{number}"))

    taken = backlog.take(2, now=0)

    assert [entry.run_id for entry in taken] == ["r0", "r1"]
    assert len(backlog) == 3


def test_backlog_discard_workspace() -> None:
    backlog = Backlog(bound=10)
    backlog.push(item("r1", key="ws-a"))
    backlog.push(item("r2", key="ws-b"))

    assert backlog.discard_workspace("ws-a") == 1
    assert [entry.run_id for entry in backlog] == ["r2"]


def test_totals_add_and_sum() -> None:
    totals = RecordTotals()
    totals.add("dify.llm.cost", "app-1", {"dify.cost.currency": "USD"}, Decimal("0.1000001"))
    totals.add("dify.llm.cost", "app-1", {"dify.cost.currency": "USD"}, Decimal("0.2"))
    totals.add("dify.llm.cost", "app-2", {"dify.cost.currency": "USD"}, Decimal(1))

    assert totals.get("dify.llm.cost", "app-1", {"dify.cost.currency": "USD"}) == Decimal("0.3000001")
    assert totals.sum("dify.llm.cost") == Decimal("1.3000001")
    assert totals.sum("dify.llm.cost", "app-2") == Decimal(1)


def test_totals_reject_negative() -> None:
    with pytest.raises(ValueError, match="cannot decrease"):
        RecordTotals().add("dify.workflow.runs", "app-1", {}, -1)


def full_state() -> RecordState:
    state = RecordState(seen_bound=100, backlog_bound=50, started_at=1_000)
    cursor = state.cursor("app-1", "workflow_logs")
    cursor.watermark = 1_500
    cursor.seen.add("run-1", 1_400)
    run = RunRecord("run-2", 1_450, "running", None, None, "web-app", "user-1")
    cursor.pending_runs["run-2"] = PendingRun(run=run, first_seen=1_460, rechecks=2)
    cursor.pending_messages["m-1"] = PendingMessage("conv-1", 1_470, "user-2")
    cursor.segments.append(Segment(last_id="run-0", stop_before=900))
    state.backlog.push(BacklogItem("console", "app-1", "run-1", 950, 1_480, attempts=1))
    state.totals.add("dify.workflow.runs", "app-1", {"dify.workflow.run.status": "succeeded"}, 3)
    state.totals.add("dify.llm.cost", "app-1", {"dify.cost.currency": "USD"}, Decimal("0.0002708"))
    state.end_users["app-1"] = EndUserTable(promoted=["user-1"], tokens={"user-3": 40})
    return state


def test_state_round_trip() -> None:
    state = full_state()

    document = json.loads(json.dumps(state.to_json()))
    loaded = RecordState.from_json(document, seen_bound=100, backlog_bound=50)

    assert loaded.to_json() == state.to_json()
    cursor = loaded.cursor("app-1", "workflow_logs")
    assert cursor.watermark == 1_500
    assert "run-1" in cursor.seen
    assert cursor.pending_runs["run-2"].run.end_user == "user-1"
    assert cursor.pending_runs["run-2"].rechecks == 2
    assert cursor.pending_messages["m-1"].end_user == "user-2"
    assert cursor.segments == [Segment("run-0", 900)]
    assert [entry.run_id for entry in loaded.backlog] == ["run-1"]
    assert loaded.totals.get("dify.llm.cost", "app-1", {"dify.cost.currency": "USD"}) == Decimal("0.0002708")
    assert loaded.started_at == 1_000


def test_state_round_trip_keeps_total_order() -> None:
    state = RecordState(started_at=0)
    for app in ("c", "a", "b"):
        state.totals.add("dify.workflow.runs", app, {}, 1)

    loaded = RecordState.from_json(json.loads(json.dumps(state.to_json())))

    assert [key[1] for key, _value in loaded.totals.items()] == ["c", "a", "b"]


def test_state_backlog_bound_shrinks() -> None:
    state = RecordState(started_at=0, backlog_bound=5)
    for number in range(5):
        state.backlog.push(item(f"r{number}"))

    loaded = RecordState.from_json(state.to_json(), backlog_bound=2)

    assert [entry.run_id for entry in loaded.backlog] == ["r0", "r1"]


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"version": 99},
        {"version": 1, "started_at": "yesterday"},
        {"version": 1, "cursors": {"a/b": {"watermark": "x"}}},
        {"version": 1, "totals": [["dify.workflow.runs", "app", {}, "-1"]]},
        {"version": 1, "totals": [["dify.workflow.runs", "app", {}, "NaN"]]},
        {"version": 1, "backlog": [{"run_id": 5}]},
    ],
)
def test_state_rejects_foreign_layout(document: object) -> None:
    with pytest.raises(StateFormatError):
        RecordState.from_json(document)


def test_cursor_needs_start() -> None:
    with pytest.raises(RuntimeError, match="started_at"):
        RecordState().cursor("app-1", "workflow_logs")
