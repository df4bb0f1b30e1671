"""The usage backlog: budget per poll, concurrency, retries, drops and the token cross-check."""

from __future__ import annotations

import asyncio
import copy
from decimal import Decimal
from typing import Any

import pytest

from otel_dify.dify.errors import DifyError, NotFoundError, TransportError
from otel_dify.records.llm_usage import MAX_ATTEMPTS, drain_backlog
from otel_dify.records.recorder import AppContext
from otel_dify.records.state import BacklogItem
from tests.records.support import WORKFLOW_APP_ID, body, context, make_recorder


class FakeNodes:
    """Answers node-execution reads with the captured body, tracking concurrency."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.failures: dict[str, Exception] = {}
        self.bodies: dict[str, Any] = {}

    async def node_executions(self, app_id: str, run_id: str) -> dict[str, Any]:
        self.calls.append(run_id)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            if run_id in self.failures:
                raise self.failures[run_id]
            return copy.deepcopy(self.bodies.get(run_id) or body("51_wf_run_node_executions"))
        finally:
            self.in_flight -= 1


def queue(recorder, count: int, *, tokens: int | None = 950, app_id: str = WORKFLOW_APP_ID) -> None:
    for number in range(count):
        assert recorder.state.backlog.push(BacklogItem("console", app_id, f"run-{number:04d}", tokens, ready_at=0))


async def drain(recorder, nodes: FakeNodes, *, budget: int = 100, concurrency: int = 4, errors: list | None = None):
    contexts = {WORKFLOW_APP_ID: context()}
    sink = errors if errors is not None else []
    return await drain_backlog(
        recorder,
        contexts,
        {"console": nodes},  # type: ignore[dict-item]
        budget=budget,
        concurrency=concurrency,
        now=10,
        on_error=lambda app, error: sink.append((app, error)),
    )


async def test_budget_bounds_requests_and_backlog_drains() -> None:
    recorder, _ = make_recorder()
    nodes = FakeNodes()
    queue(recorder, 250)

    per_poll = []
    while len(recorder.state.backlog):
        before = len(nodes.calls)
        await drain(recorder, nodes, budget=100)
        per_poll.append(len(nodes.calls) - before)

    assert per_poll == [100, 100, 50]
    assert len(set(nodes.calls)) == 250
    totals = recorder.state.totals
    assert totals.sum("dify.llm.calls") == 250
    assert totals.sum("dify.llm.tokens", **{"gen_ai.token.type": "input"}) == 250 * 665
    assert totals.sum("dify.llm.tokens", **{"gen_ai.token.type": "output"}) == 250 * 285
    assert totals.sum("dify.llm.cost") == Decimal("0.0002708") * 250
    assert recorder.stats.requests["llm_usage"] == 250


async def test_concurrency_bound() -> None:
    recorder, _ = make_recorder()
    nodes = FakeNodes()
    queue(recorder, 20)

    await drain(recorder, nodes, concurrency=3)

    assert nodes.max_in_flight == 3


async def test_model_attributes_normalised() -> None:
    recorder, histograms = make_recorder()
    queue(recorder, 1)

    await drain(recorder, FakeNodes())

    key = {
        "gen_ai.provider.name": "openai",
        "dify.llm.provider.id": "langgenius/openai/openai",
        "gen_ai.request.model": "gpt-4o-mini",
    }
    assert recorder.state.totals.get("dify.llm.calls", WORKFLOW_APP_ID, key) == 1
    assert recorder.state.totals.get("dify.llm.cost", WORKFLOW_APP_ID, {**key, "dify.cost.currency": "USD"}) == Decimal(
        "0.0002708"
    )
    assert histograms.values("dify.llm.duration") == [pytest.approx(3.914)]


async def test_mismatch_counted() -> None:
    recorder, _ = make_recorder()
    queue(recorder, 2, tokens=1000)
    queue_exact = BacklogItem("console", WORKFLOW_APP_ID, "exact", 950, ready_at=0)
    recorder.state.backlog.push(queue_exact)
    recorder.state.backlog.push(BacklogItem("console", WORKFLOW_APP_ID, "unknown", None, ready_at=0))

    await drain(recorder, FakeNodes())

    assert recorder.state.totals.get("dify.exporter.records.usage_mismatches", WORKFLOW_APP_ID) == 2


async def test_dropped_only_when_full() -> None:
    recorder, _ = make_recorder(backlog_bound=3)
    app = context()

    for number in range(3):
        recorder.queue_usage(app, f"r{number}", 10, ready_at=0)
    assert recorder.stats.dropped == 0

    recorder.queue_usage(app, "r3", 10, ready_at=0)
    recorder.queue_usage(app, "r4", 10, ready_at=0)

    assert recorder.stats.dropped == 2
    assert [item.run_id for item in recorder.state.backlog] == ["r0", "r1", "r2"]


async def test_failed_read_retried_then_given_up() -> None:
    recorder, _ = make_recorder()
    nodes = FakeNodes()
    nodes.failures["run-0000"] = TransportError("connection reset", endpoint="/x")
    queue(recorder, 1)
    errors: list = []

    for _ in range(MAX_ATTEMPTS):
        await drain(recorder, nodes, errors=errors)

    assert len(nodes.calls) == MAX_ATTEMPTS
    assert len(recorder.state.backlog) == 0
    assert recorder.state.totals.sum("dify.llm.calls") == 0
    assert len(errors) == MAX_ATTEMPTS
    assert all(isinstance(error, DifyError) for _app, error in errors)


async def test_missing_run_given_up_at_once() -> None:
    recorder, _ = make_recorder()
    nodes = FakeNodes()
    nodes.failures["run-0000"] = NotFoundError("no run", status=404)
    queue(recorder, 2)
    errors: list = []

    await drain(recorder, nodes, errors=errors)

    assert len(recorder.state.backlog) == 0
    assert recorder.state.totals.sum("dify.llm.calls") == 1
    assert [type(error) for _app, error in errors] == [NotFoundError]


async def test_running_nodes_read_later() -> None:
    recorder, _ = make_recorder()
    nodes = FakeNodes()
    running = body("51_wf_run_node_executions")
    running["data"][2]["status"] = "running"
    nodes.bodies["run-0000"] = running
    queue(recorder, 1)

    await drain(recorder, nodes)

    assert recorder.state.totals.sum("dify.llm.calls") == 0
    assert [item.ready_at for item in recorder.state.backlog] == [70]


async def test_unknown_app_waits() -> None:
    recorder, _ = make_recorder()
    nodes = FakeNodes()
    queue(recorder, 1, app_id="not-listed")

    await drain(recorder, nodes)

    assert nodes.calls == []
    assert [item.attempts for item in recorder.state.backlog] == [1]


async def test_malformed_nodes_counted_as_error() -> None:
    recorder, _ = make_recorder()
    nodes = FakeNodes()
    broken = body("51_wf_run_node_executions")
    broken["data"][1]["process_data"]["usage"]["prompt_tokens"] = "many"
    nodes.bodies["run-0000"] = broken
    queue(recorder, 1)
    errors: list[tuple[AppContext | None, DifyError]] = []

    await drain(recorder, nodes, errors=errors)

    assert [error.error_type for _app, error in errors] == ["invalid_response"]
    assert len(recorder.state.backlog) == 1
