"""A failing record source costs only its own app, and the records it missed are read after it recovers."""

from __future__ import annotations

import logging
import random

import pytest
from aiohttp import web

from otel_dify.simulator import DifySimulator
from tests.integration.harness import record_sum, running_harness
from tests.integration.test_records_workflow import POLL_S, add_runs, assert_models_match, assert_runs_match


def break_path(simulator: DifySimulator, fragment: str) -> dict[str, bool]:
    """Answer every request whose path contains ``fragment`` with an HTML page while ``state['on']``.

    A 200 with HTML is not retried, so the test needs no back-off waits.
    """
    state = {"on": False}
    make_app = simulator.make_app

    @web.middleware
    async def fault(request: web.Request, handler):
        if state["on"] and fragment in request.path:
            return web.Response(status=200, text="<html><body>maintenance</body></html>", content_type="text/html")
        return await handler(request)

    def make_app_with_fault() -> web.Application:
        application = make_app()
        application.middlewares.append(fault)
        return application

    simulator.make_app = make_app_with_fault
    return state


async def test_failing_source_recovers_without_loss(caplog: pytest.LogCaptureFixture) -> None:
    simulator = DifySimulator(profile="1.15", seed=61)
    rng = random.Random(19)
    workflow = simulator.app_of_mode("workflow")
    advanced = simulator.app_of_mode("advanced-chat")
    state = break_path(simulator, f"/apps/{workflow.id}/workflow-app-logs")

    async with running_harness(simulator) as harness:
        since = simulator.clock.now()
        await harness.poll()

        state["on"] = True
        harness.advance(POLL_S)
        add_runs(simulator, rng, 4)
        with caplog.at_level(logging.WARNING):
            summary = await harness.poll()

        # Record errors are counted but leave the statistics poll, and up, alone.
        assert summary.succeeded
        assert record_sum(harness, "dify.workflow.runs", workflow.id) == 0
        assert record_sum(harness, "dify.workflow.runs", advanced.id) == 4
        errors = {point.attributes["error.type"]: point.value for point in harness.points("dify.exporter.errors")}
        assert errors.get("invalid_response", 0) >= 1
        logged = [
            record
            for record in caplog.records
            if record.levelno >= logging.WARNING and getattr(record, "app_id", None) == workflow.id
        ]
        assert logged
        assert {getattr(record, "endpoint", None) for record in logged} == {
            "/console/api/apps/{app_id}/workflow-app-logs"
        }

        state["on"] = False
        for _ in range(3):
            harness.advance(POLL_S)
            await harness.poll()

        for app_id in (workflow.id, advanced.id):
            truth = simulator.record_truth(app_id, since=since)
            assert_runs_match(harness, truth)
            assert_models_match(harness, truth)


async def test_failing_node_reads_retried() -> None:
    simulator = DifySimulator(profile="1.15", seed=62)
    rng = random.Random(20)
    workflow = simulator.app_of_mode("workflow")
    state = break_path(simulator, "/node-executions")

    async with running_harness(simulator) as harness:
        since = simulator.clock.now()
        await harness.poll()
        state["on"] = True
        harness.advance(POLL_S)
        add_runs(simulator, rng, 3)
        await harness.poll()
        assert len(harness.assembly.records.state.backlog) == 6

        state["on"] = False
        harness.advance(POLL_S)
        await harness.poll()

        assert len(harness.assembly.records.state.backlog) == 0
        assert_models_match(harness, simulator.record_truth(workflow.id, since=since))
