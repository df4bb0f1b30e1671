"""End-user series and the per-metric series cap, end to end against the simulator."""

from __future__ import annotations

import hashlib
import random
from datetime import timedelta

from otel_dify.simulator import DifySimulator
from tests.integration.harness import record_sum, running_harness
from tests.integration.test_records_workflow import POLL_S, add_runs, poll_until_drained


def add_user_runs(simulator: DifySimulator, app_id: str, tokens_by_user: dict[str, int]) -> None:
    now = simulator.clock.now()
    for session_id, tokens in tokens_by_user.items():
        user = next(
            (user for user in simulator.dataset.records[app_id].end_users if user.session_id == session_id), None
        ) or simulator.dataset.add_end_user(app_id, session_id=session_id)
        simulator.dataset.add_workflow_run(app_id, now - timedelta(seconds=1), created_by=user.id, total_tokens=tokens)


async def test_top_end_users_keep_series() -> None:
    simulator = DifySimulator(profile="1.15", seed=51)
    workflow = simulator.app_of_mode("workflow")
    async with running_harness(simulator, end_user_attribute="raw", end_user_top_n="2") as harness:
        since = simulator.clock.now()
        await harness.poll()
        harness.advance(POLL_S)
        add_user_runs(simulator, workflow.id, {"big-1": 5_000, "big-2": 4_000, "small-1": 10, "small-2": 20})
        await harness.poll()
        harness.advance(POLL_S)
        add_user_runs(simulator, workflow.id, {"big-1": 100, "big-2": 100, "small-1": 100, "late": 9_000})
        await harness.poll()

        users = {
            point.attributes["dify.end_user.id"]: point.value
            for point in harness.points("dify.workflow.tokens")
            if point.attributes["dify.app.id"] == workflow.id
        }
        # Records counted before a user joined the top stay in "other".
        assert users == {"other": 9_030 + 100 + 9_000, "big-1": 100, "big-2": 100}
        assert sum(users.values()) == simulator.record_truth(workflow.id, since=since).workflow_tokens
        runs = record_sum(harness, "dify.workflow.runs", workflow.id, **{"dify.end_user.id": "big-1"})
        assert runs == 1


async def test_hashed_end_users() -> None:
    simulator = DifySimulator(profile="1.15", seed=52)
    workflow = simulator.app_of_mode("workflow")
    salt = "integration-salt-7f3a"
    async with running_harness(
        simulator, end_user_attribute="hashed", end_user_salt=salt, end_user_top_n="1"
    ) as harness:
        await harness.poll()
        harness.advance(POLL_S)
        add_user_runs(simulator, workflow.id, {"customer-42": 700})
        await harness.poll()
        harness.advance(POLL_S)
        add_user_runs(simulator, workflow.id, {"customer-42": 300})
        await harness.poll()

        hashed = hashlib.sha256(f"{salt}customer-42".encode()).hexdigest()[:16]
        labels = {point.attributes.get("dify.end_user.id") for point in harness.points("dify.workflow.tokens")}
        assert labels == {"other", hashed}
        assert not any("customer-42" in str(point.attributes) for point in harness.points("dify.workflow.runs"))
        state_text = repr(harness.assembly.records.state.to_json())
        assert "customer-42" not in state_text


async def test_series_cap_folds_overflow() -> None:
    simulator = DifySimulator(profile="1.15", seed=53)
    rng = random.Random(16)
    async with running_harness(simulator, max_series_per_metric="3") as harness:
        since = simulator.clock.now()
        await harness.poll()
        harness.advance(POLL_S)
        add_runs(simulator, rng, 10)
        await harness.poll()
        await poll_until_drained(harness)

        points = harness.points("dify.llm.tokens")
        assert len(points) == 3
        assert points[-1].attributes == {"otel.metric.overflow": True}
        total = sum(point.value for point in points)
        expected = sum(
            usage.input_tokens + usage.output_tokens
            for app in (simulator.app_of_mode("workflow"), simulator.app_of_mode("advanced-chat"))
            for usage in simulator.record_truth(app.id, since=since).models.values()
        )
        assert total == expected
        overflow = {
            point.attributes["dify.metric.name"]: point.value
            for point in harness.points("dify.exporter.records.series_overflow")
        }
        assert overflow["dify.llm.tokens"] > 0
