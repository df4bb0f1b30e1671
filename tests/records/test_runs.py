"""Incremental run reading: overlap, pending runs, page budgets, catch-up and cursor segments."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from otel_dify.dify.errors import HTTPStatusError, NotFoundError
from otel_dify.records.levels import Level
from otel_dify.records.runs import (
    PENDING_MAX_AGE_S,
    CursorRunSource,
    LogRunSource,
    RequestBudget,
    Window,
    collect_runs,
)
from tests.records.support import body, context, make_recorder

OVERLAP = 600
START = 1_000_000


def template_log() -> dict[str, Any]:
    return copy.deepcopy(body("50_wf_logs_p1_l5")["data"][0])


def template_run() -> dict[str, Any]:
    return copy.deepcopy(body("51_wf_runs_list")["data"][0])


@dataclass
class FakeRuns:
    """A run store that answers like Dify's log list (page numbers) and run list (cursor)."""

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, Any]] = field(default_factory=list)
    honour_time_filters: bool = True

    def add(self, run_id: str, created_at: int, status: str = "succeeded", tokens: int = 100) -> None:
        self.runs[run_id] = {"id": run_id, "created_at": created_at, "status": status, "tokens": tokens}

    def finish(self, run_id: str, status: str = "succeeded") -> None:
        self.runs[run_id]["status"] = status

    def _sorted(self) -> list[dict[str, Any]]:
        return sorted(self.runs.values(), key=lambda run: (-run["created_at"], run["id"]))

    def _log_item(self, run: dict[str, Any]) -> dict[str, Any]:
        item = template_log()
        item["id"] = "log-" + run["id"]
        item["created_at"] = run["created_at"]
        item["workflow_run"].update(
            id=run["id"], status=run["status"], total_tokens=run["tokens"], created_at=run["created_at"]
        )
        return item

    async def log_page(self, after: int, before: int, page: int) -> dict[str, Any]:
        self.requests.append(("logs", (after, before, page)))
        runs = self._sorted()
        if self.honour_time_filters:
            runs = [run for run in runs if after <= run["created_at"] <= before]
        chunk = runs[(page - 1) * 100 : page * 100]
        return {
            "page": page,
            "limit": 100,
            "total": len(runs),
            "has_more": len(runs) > page * 100,
            "data": [self._log_item(run) for run in chunk],
        }

    async def cursor_page(self, last_id: str | None) -> dict[str, Any]:
        self.requests.append(("runs", last_id))
        runs = self._sorted()
        if last_id is not None:
            position = next((index for index, run in enumerate(runs) if run["id"] == last_id), None)
            if position is None:
                raise HTTPStatusError("unknown last_id", status=400)
            runs = runs[position + 1 :]
        chunk = runs[:100]
        data = []
        for run in chunk:
            item = template_run()
            item.update(id=run["id"], status=run["status"], total_tokens=run["tokens"], created_at=run["created_at"])
            data.append(item)
        return {"limit": 100, "has_more": len(runs) > 100, "data": data}

    async def detail(self, run_id: str) -> dict[str, Any]:
        self.requests.append(("detail", run_id))
        run = self.runs.get(run_id)
        if run is None:
            raise NotFoundError("run not found", status=404)
        item = body("51_wf_run_detail")
        item.update(id=run_id, status=run["status"], total_tokens=run["tokens"], created_at=run["created_at"])
        return item

    def count(self, kind: str) -> int:
        return sum(1 for request_kind, _ in self.requests if request_kind == kind)


class Harness:
    """One app read through one source, poll after poll, with a driven wall clock."""

    def __init__(self, source_kind: str = "logs", *, max_pages: int = 20, time_filters: bool = True) -> None:
        self.server = FakeRuns(honour_time_filters=time_filters)
        self.recorder, self.histograms = make_recorder(started_at=START)
        self.context = context()
        self.now = START
        self.max_pages = max_pages
        if source_kind == "logs":
            self.source: Any = LogRunSource(
                "workflow_logs", self.server.log_page, self.server.detail, lambda: time_filters, app_id="app"
            )
        else:
            self.source = CursorRunSource(
                "advanced_chat_runs", self.server.cursor_page, self.server.detail, app_id="app"
            )

    @property
    def cursor(self):
        return self.recorder.state.cursor(self.context.app.id, self.source.name)

    async def poll(self, advance: int = 60) -> int:
        """Advance the clock, read once, and return the list requests of this poll."""
        self.now += advance
        before = len(self.server.requests)
        window = Window.for_cursor(self.cursor, floor=START, overlap_s=OVERLAP, now=self.now)
        await collect_runs(
            self.context,
            self.source,
            self.cursor,
            window,
            RequestBudget(self.max_pages),
            self.recorder,
            overlap_s=OVERLAP,
        )
        return len(self.server.requests) - before

    def runs_counted(self, status: str | None = None) -> int:
        attributes = {} if status is None else {"dify.workflow.run.status": status}
        return int(self.recorder.state.totals.sum("dify.workflow.runs", **attributes))

    def tokens_counted(self) -> int:
        return int(self.recorder.state.totals.sum("dify.workflow.tokens"))

    def queued(self) -> list[str]:
        return [item.run_id for item in self.recorder.state.backlog]


@pytest.mark.parametrize("kind", ["logs", "cursor"])
async def test_overlap_not_counted_twice(kind: str) -> None:
    harness = Harness(kind)
    harness.server.add("r1", START + 30)
    harness.server.add("r2", START + 50, tokens=7)

    await harness.poll()
    await harness.poll()
    await harness.poll()

    assert harness.runs_counted() == 2
    assert harness.tokens_counted() == 107
    assert harness.queued() == ["r2", "r1"] or sorted(harness.queued()) == ["r1", "r2"]
    assert len(harness.queued()) == 2


@pytest.mark.parametrize("kind", ["logs", "cursor"])
async def test_runs_before_start_not_counted(kind: str) -> None:
    harness = Harness(kind)
    harness.server.add("old", START - 5)
    harness.server.add("new", START + 5)

    await harness.poll()

    assert harness.runs_counted() == 1
    assert harness.queued() == ["new"]


@pytest.mark.parametrize("kind", ["logs", "cursor"])
async def test_running_counted_once_when_final(kind: str) -> None:
    harness = Harness(kind)
    harness.server.add("r1", START + 30, status="running")

    await harness.poll()
    assert harness.runs_counted() == 0
    assert "r1" in harness.cursor.pending_runs

    harness.server.finish("r1", "failed")
    await harness.poll()
    await harness.poll()

    assert harness.runs_counted() == 1
    assert harness.runs_counted("failed") == 1
    assert harness.cursor.pending_runs == {}
    assert harness.queued() == ["r1"]


async def test_pending_rechecked_after_window() -> None:
    harness = Harness("logs")
    harness.server.add("slow", START + 30, status="running")
    await harness.poll()
    harness.server.add("later", START + 5_000)
    await harness.poll(advance=5_000)
    assert harness.server.count("detail") == 0

    harness.server.finish("slow", "stopped")
    await harness.poll(advance=1_000)

    assert harness.server.count("detail") == 1
    assert harness.runs_counted("stopped") == 1
    assert harness.runs_counted() == 2
    # The log's created_from survives the detail read, which lacks it.
    assert (
        harness.recorder.state.totals.get(
            "dify.workflow.runs",
            harness.context.app.id,
            {"dify.workflow.run.status": "stopped", "dify.workflow.run.created_from": "web-app"},
        )
        == 1
    )


async def test_pending_given_up_after_max_age() -> None:
    harness = Harness("logs")
    harness.server.add("stuck", START + 30, status="paused")
    await harness.poll()

    await harness.poll(advance=PENDING_MAX_AGE_S + 10)

    assert harness.cursor.pending_runs == {}
    assert harness.runs_counted() == 0


async def test_pending_deleted_run_forgotten() -> None:
    harness = Harness("logs")
    harness.server.add("gone", START + 30, status="running")
    await harness.poll()
    del harness.server.runs["gone"]
    harness.server.add("later", START + 2_000)
    await harness.poll(advance=2_000)

    await harness.poll()

    assert harness.cursor.pending_runs == {}
    assert harness.runs_counted() == 1


@pytest.mark.parametrize("kind", ["logs", "cursor"])
async def test_late_commit_inside_overlap_counted(kind: str) -> None:
    harness = Harness(kind)
    harness.server.add("r1", START + 100)
    await harness.poll(advance=200)

    # A run created before the watermark appears only now.
    harness.server.add("late", START + 50)
    await harness.poll()

    assert harness.runs_counted() == 2


async def test_logs_catch_up_within_budget() -> None:
    harness = Harness("logs", max_pages=5)
    for number in range(2_345):
        harness.server.add(f"r{number:05d}", START + 1 + number // 3)

    assert await harness.poll(advance=1_000) <= 5
    polls = 1
    while harness.runs_counted() < 2_345 and polls < 20:
        assert await harness.poll(advance=1) <= 5
        polls += 1

    assert harness.runs_counted() == 2_345
    assert len(set(harness.queued())) == 2_345
    assert polls > 1


async def test_logs_catch_up_with_arrivals() -> None:
    harness = Harness("logs", max_pages=4)
    number = 0
    for _ in range(1_000):
        harness.server.add(f"r{number:05d}", START + 1 + number // 10)
        number += 1
    await harness.poll(advance=200)

    for _poll in range(15):
        for _ in range(40):
            harness.server.add(f"r{number:05d}", harness.now + 1)
            number += 1
        requests = await harness.poll(advance=2)
        assert requests <= 4
    for _poll in range(10):
        await harness.poll(advance=2)

    assert harness.runs_counted() == number


async def test_logs_without_time_filters_read_newest_first() -> None:
    harness = Harness("logs", time_filters=False)
    harness.server.add("before-start", START - 100)
    for number in range(250):
        harness.server.add(f"r{number:03d}", START + 10 + number)

    await harness.poll(advance=400)
    await harness.poll()

    assert harness.runs_counted() == 250


@pytest.mark.parametrize("kind", ["logs", "cursor"])
async def test_one_page_when_quiet(kind: str) -> None:
    harness = Harness(kind)
    harness.server.add("r1", START + 10)

    assert await harness.poll() == 1
    assert await harness.poll() == 1


async def test_cursor_segments_drain_burst() -> None:
    harness = Harness("cursor", max_pages=3)
    for number in range(1_050):
        harness.server.add(f"r{number:05d}", START + 1 + number // 5)

    total_polls = 0
    while harness.runs_counted() < 1_050 and total_polls < 20:
        harness.server.add(f"new{total_polls:03d}", harness.now + 1)
        assert await harness.poll(advance=2) <= 3
        total_polls += 1
    for _ in range(3):
        await harness.poll(advance=2)

    assert harness.runs_counted() == 1_050 + total_polls
    assert harness.cursor.segments == []
    assert len(harness.queued()) == len(set(harness.queued()))


async def test_cursor_segment_with_deleted_start_dropped() -> None:
    harness = Harness("cursor", max_pages=3)
    for number in range(400):
        harness.server.add(f"r{number:05d}", START + 1 + number)
    await harness.poll(advance=500)
    assert len(harness.cursor.segments) == 1

    del harness.server.runs[harness.cursor.segments[0].last_id]
    await harness.poll()

    assert harness.cursor.segments == []


async def test_histogram_recorded_per_counted_run() -> None:
    harness = Harness("logs")
    harness.server.add("r1", START + 10)
    await harness.poll()
    await harness.poll()

    values = harness.histograms.values("dify.workflow.run.duration")
    assert values == [pytest.approx(4.054)]


async def test_usage_not_queued_without_level() -> None:
    harness = Harness("logs")
    harness.recorder.levels = frozenset({Level.WORKFLOW_RUNS})
    harness.server.add("r1", START + 10)

    await harness.poll()

    assert harness.runs_counted() == 1
    assert harness.queued() == []


async def test_runs_not_counted_without_level() -> None:
    harness = Harness("logs")
    harness.recorder.levels = frozenset({Level.LLM_USAGE})
    harness.server.add("r1", START + 10)

    await harness.poll()

    assert harness.runs_counted() == 0
    assert harness.queued() == ["r1"]


async def test_seen_pruned_after_window() -> None:
    harness = Harness("logs")
    harness.server.add("r1", START + 10)
    await harness.poll()
    harness.server.add("r2", START + 2_000)

    await harness.poll(advance=2_000)

    assert "r1" not in harness.cursor.seen
    assert "r2" in harness.cursor.seen


def test_budget_spend_beyond_limit() -> None:
    budget = RequestBudget(1)
    budget.spend()

    with pytest.raises(RuntimeError):
        budget.spend()


def test_window_never_before_floor() -> None:
    harness = Harness("logs")
    window = Window.for_cursor(harness.cursor, floor=START, overlap_s=OVERLAP, now=START + 5)

    assert window.start == START
    assert math.isclose(window.upper, START + 5)
