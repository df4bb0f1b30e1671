"""Record ground truth: it equals what the record endpoints serve, summed the way an exporter would."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from otel_dify.dify.models import AppMode
from otel_dify.simulator import DifySimulator
from otel_dify.simulator.node_builder import NodeSpec
from otel_dify.simulator.records import DEBUGGER, RUNNING
from otel_dify.simulator.records_truth import UNKNOWN_MODEL, UNKNOWN_PROVIDER, ModelUsage
from tests.simulator.support import Console

NOW = datetime(2026, 12, 4, 19, 30, tzinfo=timezone.utc)
PREFIX = "/console/api/apps"
CONTAINERS = ("iteration", "loop")


async def fetch_logs(console: Console, app_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        reply = await console.get(
            f"{PREFIX}/{app_id}/workflow-app-logs", console.sim.issue_session(), params={"page": str(page), "limit": "100"}
        )
        items.extend(reply.body["data"])
        if not reply.body["has_more"]:
            return items
        page += 1


async def fetch_chatflow_runs(console: Console, app_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params = {"limit": "100", "triggered_from": "app-run"}
    while True:
        reply = await console.get(f"{PREFIX}/{app_id}/advanced-chat/workflow-runs", console.sim.issue_session(), params=params)
        items.extend(reply.body["data"])
        if not reply.body["has_more"]:
            return items
        params["last_id"] = items[-1]["id"]


async def served_models(console: Console, app_id: str, run_ids: list[str]) -> dict[tuple[str, str], ModelUsage]:
    """Sum the leaf nodes that node-executions serves, as an exporter would."""
    models: dict[tuple[str, str], ModelUsage] = {}
    for run_id in run_ids:
        reply = await console.get(f"{PREFIX}/{app_id}/workflow-runs/{run_id}/node-executions", console.sim.issue_session())
        for node in reply.body["data"]:
            if node["node_type"] in CONTAINERS:
                continue
            process = node["process_data"] or {}
            usage = process.get("usage") or (node["outputs"] or {}).get("usage")
            if usage is None:
                continue
            key = (process.get("model_provider") or UNKNOWN_PROVIDER, process.get("model_name") or UNKNOWN_MODEL)
            total = models.setdefault(key, ModelUsage())
            total.input_tokens += usage["prompt_tokens"]
            total.output_tokens += usage["completion_tokens"]
            total.cost[usage["currency"]] = total.cost.get(usage["currency"], Decimal(0)) + Decimal(usage["total_price"])
            total.calls += 1
    return models


async def test_workflow_models_match_nodes(console: Console) -> None:
    app_id = console.sim.app_of_mode(AppMode.WORKFLOW).id
    logs = await fetch_logs(console, app_id)
    finished = [item["workflow_run"]["id"] for item in logs if item["workflow_run"]["status"] != RUNNING]
    truth = console.sim.record_truth(app_id)
    assert await served_models(console, app_id, finished) == truth.models
    assert (UNKNOWN_PROVIDER, UNKNOWN_MODEL) in truth.models


async def test_chatflow_models_match_nodes(console: Console) -> None:
    app_id = console.sim.app_of_mode(AppMode.ADVANCED_CHAT).id
    runs = await fetch_chatflow_runs(console, app_id)
    truth = console.sim.record_truth(app_id)
    assert await served_models(console, app_id, [run["id"] for run in runs]) == truth.models
    assert truth.run_count == len(runs)


async def test_runs_match_logs(console: Console) -> None:
    app_id = console.sim.app_of_mode(AppMode.WORKFLOW).id
    logs = [item for item in await fetch_logs(console, app_id) if item["workflow_run"]["status"] != RUNNING]
    truth = console.sim.record_truth(app_id)

    by_key: dict[tuple[str, str | None], int] = {}
    for item in logs:
        key = (item["workflow_run"]["status"], item["created_from"])
        by_key[key] = by_key.get(key, 0) + 1
    assert truth.runs == by_key
    assert truth.workflow_tokens == sum(item["workflow_run"]["total_tokens"] for item in logs)
    assert sorted(truth.durations) == sorted(item["workflow_run"]["elapsed_time"] for item in logs)
    assert truth.usage_mismatches == 0


def test_chatflow_runs_lack_created_from(simulator: DifySimulator) -> None:
    truth = simulator.record_truth(simulator.app_of_mode(AppMode.ADVANCED_CHAT).id)
    assert truth.runs
    assert {created_from for _, created_from in truth.runs} == {None}


def test_since_bounds_records(simulator: DifySimulator) -> None:
    app_id = simulator.app_of_mode(AppMode.WORKFLOW).id
    since = NOW - timedelta(minutes=30)
    baseline = simulator.record_truth(app_id, since=since)
    simulator.dataset.add_workflow_run(app_id, since, total_tokens=77)
    simulator.dataset.add_workflow_run(app_id, since - timedelta(seconds=1), total_tokens=55)
    simulator.dataset.add_workflow_run(app_id, NOW + timedelta(seconds=1), total_tokens=33)
    truth = simulator.record_truth(app_id, since=since)
    assert truth.run_count == baseline.run_count + 1
    assert truth.workflow_tokens == baseline.workflow_tokens + 77


def test_running_counted_once_final(simulator: DifySimulator) -> None:
    app_id = simulator.app_of_mode(AppMode.WORKFLOW).id
    run = simulator.dataset.add_workflow_run(app_id, NOW - timedelta(seconds=40), status=RUNNING)
    before = simulator.record_truth(app_id, since=run.created_at)
    simulator.finish_run(run.id, status="stopped")
    after = simulator.record_truth(app_id, since=run.created_at)
    finished = simulator.dataset.workflow_run(app_id, run.id)
    assert finished is not None
    assert before.run_count == 0
    assert after.runs == {("stopped", "service-api"): 1}
    assert after.workflow_tokens == finished.total_tokens > 0


def test_debugging_runs_excluded(simulator: DifySimulator) -> None:
    app_id = simulator.app_of_mode(AppMode.WORKFLOW).id
    since = NOW - timedelta(seconds=5)
    simulator.dataset.add_workflow_run(app_id, since, triggered_from="debugging", total_tokens=500)
    truth = simulator.record_truth(app_id, since=since)
    assert truth.run_count == 0
    assert truth.models == {}


def test_mismatch_counted(simulator: DifySimulator) -> None:
    app_id = simulator.app_of_mode(AppMode.WORKFLOW).id
    run = simulator.dataset.add_workflow_run(app_id, NOW - timedelta(minutes=1), total_tokens=100)
    simulator.dataset.update_workflow_run(app_id, run.id, total_tokens=101)
    truth = simulator.record_truth(app_id, since=run.created_at)
    assert truth.usage_mismatches == 1
    assert truth.workflow_tokens == 101
    assert truth.models[("langgenius/openai/openai", "gpt-4o-mini")].input_tokens + truth.models[
        ("langgenius/openai/openai", "gpt-4o-mini")
    ].output_tokens == 100


def test_agent_key_unknown(simulator: DifySimulator) -> None:
    app_id = simulator.app_of_mode(AppMode.WORKFLOW).id
    run = simulator.dataset.add_workflow_run(
        app_id, NOW - timedelta(minutes=1), nodes=[NodeSpec("agent", prompt_tokens=30, completion_tokens=12)]
    )
    truth = simulator.record_truth(app_id, since=run.created_at)
    usage = truth.models[(UNKNOWN_PROVIDER, UNKNOWN_MODEL)]
    assert (usage.input_tokens, usage.output_tokens, usage.calls) == (30, 12, 1)
    assert usage.cost == {"USD": Decimal("0.0000117")}


def test_iteration_counts_children_once(simulator: DifySimulator) -> None:
    app_id = simulator.app_of_mode(AppMode.WORKFLOW).id
    children = (NodeSpec("llm", prompt_tokens=10, completion_tokens=5), NodeSpec("llm", prompt_tokens=20, completion_tokens=5))
    run = simulator.dataset.add_workflow_run(app_id, NOW - timedelta(minutes=1), nodes=[NodeSpec("loop", children=children)])
    truth = simulator.record_truth(app_id, since=run.created_at)
    usage = truth.models[("langgenius/openai/openai", "gpt-4o-mini")]
    assert run.total_tokens == 40
    assert (usage.input_tokens, usage.output_tokens, usage.calls) == (30, 10, 2)


def test_message_truth(simulator: DifySimulator) -> None:
    app_id = simulator.app_of_mode(AppMode.CHAT).id
    since = NOW - timedelta(minutes=20)
    simulator.dataset.add_message(app_id, since, message_tokens=100, answer_tokens=40)
    simulator.dataset.add_message(app_id, since + timedelta(minutes=1), message_tokens=60, answer_tokens=0, status="error")
    simulator.dataset.add_message(app_id, since + timedelta(minutes=2), invoke_from=DEBUGGER, message_tokens=999)
    truth = simulator.record_truth(app_id, since=since)
    assert truth.message_input_tokens == 160
    assert truth.message_output_tokens == 40
    assert truth.messages == {"normal": 1, "error": 1}


def test_message_truth_all_records(simulator: DifySimulator) -> None:
    app_id = simulator.app_of_mode(AppMode.AGENT_CHAT).id
    records = simulator.dataset.records[app_id]
    counted = [message for message in records.messages if message.invoke_from != DEBUGGER]
    truth = simulator.record_truth(app_id)
    assert truth.message_input_tokens == sum(message.message_tokens for message in counted)
    assert sum(truth.messages.values()) == len(counted)


def test_completion_has_no_message_truth(simulator: DifySimulator) -> None:
    truth = simulator.record_truth(simulator.app_of_mode(AppMode.COMPLETION).id)
    assert truth.messages == {}
    assert truth.run_count == 0


def test_generated_runs_leaf_sum(simulator: DifySimulator) -> None:
    for mode in (AppMode.WORKFLOW, AppMode.ADVANCED_CHAT):
        app_id = simulator.app_of_mode(mode).id
        for run in simulator.dataset.records[app_id].workflow_runs:
            if run.status == RUNNING:
                continue
            leaves = sum(node.usage.total_tokens for node in simulator.dataset.nodes_of(app_id, run.id) if node.usage)
            assert leaves == run.total_tokens, run.id
        assert simulator.record_truth(app_id).usage_mismatches == 0, mode
