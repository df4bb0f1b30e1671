"""The service-API-only mode against the simulator: workflow runs from app keys, and nothing that creates end users."""

from __future__ import annotations

import logging
import random

import pytest

from otel_dify.dify.records_client import service_app_id
from otel_dify.simulator import DifySimulator
from tests.integration.harness import record_sum, running_service_harness
from tests.integration.test_records_workflow import POLL_S, add_runs

#: Service-API paths that take a ``user`` parameter, which makes Dify create an end user.
USER_ENDPOINTS = ("/v1/messages", "/v1/conversations", "/v1/chat-messages", "/v1/completion-messages", "/v1/files")
READ_ONLY_PATHS = frozenset({"/v1/info", "/v1/workflows/logs"})
RUN_DETAIL_PREFIX = "/v1/workflows/run/"


async def test_service_mode_counts_workflow_runs(caplog: pytest.LogCaptureFixture) -> None:
    simulator = DifySimulator(profile="1.15", seed=41)
    rng = random.Random(14)
    workflow = simulator.app_of_mode("workflow")
    chat = simulator.app_of_mode("chat")
    keys = [simulator.app_api_key(workflow.id), simulator.app_api_key(chat.id)]

    with caplog.at_level(logging.DEBUG):
        async with running_service_harness(simulator, [workflow.id, chat.id]) as harness:
            since = simulator.clock.now()
            assert (await harness.poll()).succeeded
            for _ in range(3):
                harness.advance(POLL_S)
                add_runs(simulator, rng, 5)
                assert (await harness.poll()).succeeded

            truth = simulator.record_truth(workflow.id, since=since)
            app_id = service_app_id(keys[0])
            by_status: dict[tuple[str, str | None], int] = {}
            for point in harness.points("dify.workflow.runs"):
                assert point.attributes["dify.app.id"] == app_id
                created_from = point.attributes.get("dify.workflow.run.created_from")
                key = (
                    str(point.attributes["dify.workflow.run.status"]),
                    None if created_from is None else str(created_from),
                )
                by_status[key] = by_status.get(key, 0) + int(point.value)
            assert by_status == truth.runs
            assert record_sum(harness, "dify.workflow.tokens", app_id) == truth.workflow_tokens

            names = {point.attributes["dify.app.name"] for point in harness.points("dify.workflow.runs")}
            assert names == {workflow.name}
            assert harness.points("dify.llm.tokens") == ()
            assert harness.points("dify.app.messages") == ()
            modes = {point.attributes["dify.app.mode"]: point.value for point in harness.points("dify.apps")}
            assert modes == {"workflow": 1.0, "chat": 1.0}

    requests = simulator.request_log
    assert requests
    # Only reads without a user parameter: app info, run logs and the detail of one run.
    assert all(entry.method == "GET" for entry in requests)
    assert all(entry.path in READ_ONLY_PATHS or entry.path.startswith(RUN_DETAIL_PREFIX) for entry in requests)
    assert all("user=" not in entry.query for entry in requests)
    assert not any(entry.path.startswith(USER_ENDPOINTS) for entry in requests)
    texts = [record.getMessage() + " " + repr(record.__dict__) for record in caplog.records]
    assert not any(key in text for text in texts for key in keys)


async def test_service_mode_restart_with_state(tmp_path) -> None:
    simulator = DifySimulator(profile="1.15", seed=42)
    rng = random.Random(15)
    workflow = simulator.app_of_mode("workflow")
    state_dir = str(tmp_path / "state")

    async with running_service_harness(simulator, [workflow.id], state_dir=state_dir) as harness:
        since = simulator.clock.now()
        await harness.poll()
        harness.advance(POLL_S)
        add_runs(simulator, rng, 4)
        await harness.poll()

    simulator.clock.advance(2 * POLL_S)
    add_runs(simulator, rng, 3)

    async with running_service_harness(simulator, [workflow.id], state_dir=state_dir) as harness:
        harness.advance(POLL_S)
        await harness.poll()

        app_id = service_app_id(simulator.app_api_key(workflow.id))
        assert (
            record_sum(harness, "dify.workflow.runs", app_id)
            == simulator.record_truth(workflow.id, since=since).run_count
        )


async def test_service_mode_rechecks_pending_run() -> None:
    simulator = DifySimulator(profile="1.15", seed=43)
    workflow = simulator.app_of_mode("workflow")

    async with running_service_harness(simulator, [workflow.id], records_overlap="60") as harness:
        since = simulator.clock.now()
        await harness.poll()
        harness.advance(10)
        slow = simulator.dataset.add_workflow_run(workflow.id, simulator.clock.now(), status="running")
        harness.advance(POLL_S)
        await harness.poll()

        # A later run moves the window past the slow one, which finishes only then.
        harness.advance(5 * POLL_S)
        simulator.dataset.add_workflow_run(workflow.id, simulator.clock.now())
        await harness.poll()
        assert simulator.count_requests(path=f"/v1/workflows/run/{slow.id}") == 0
        simulator.finish_run(slow.id, "stopped")
        harness.advance(POLL_S)
        await harness.poll()
        harness.advance(POLL_S)
        await harness.poll()

        app_id = service_app_id(simulator.app_api_key(workflow.id))
        assert simulator.count_requests(path=f"/v1/workflows/run/{slow.id}") == 1
        assert record_sum(harness, "dify.workflow.runs", app_id, **{"dify.workflow.run.status": "stopped"}) == 1
        assert (
            record_sum(harness, "dify.workflow.runs", app_id)
            == simulator.record_truth(workflow.id, since=since).run_count
        )
