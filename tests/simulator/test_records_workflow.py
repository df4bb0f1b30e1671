"""Workflow app logs, workflow-run lists and node executions: Dify's semantics over the simulator's records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from otel_dify.dify.models import AppMode
from otel_dify.simulator import DifySimulator
from otel_dify.simulator.node_builder import NodeSpec
from otel_dify.simulator.records import APP_RUN, DEBUGGING, RUNNING
from tests.simulator.support import Console, serving

NOW = datetime(2026, 12, 4, 19, 30, tzinfo=timezone.utc)
PREFIX = "/console/api/apps"


def iso(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


async def app_logs(console: Console, app_id: str, **params: str) -> dict[str, Any]:
    reply = await console.get(f"{PREFIX}/{app_id}/workflow-app-logs", console.sim.issue_session(), params=params)
    assert reply.status == 200, reply.body
    return reply.body


async def all_app_logs(console: Console, app_id: str, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        body = await app_logs(console, app_id, page=str(page), limit="100", **params)
        items.extend(body["data"])
        if not body["has_more"]:
            return items
        page += 1


def workflow_id(console: Console) -> str:
    return console.sim.app_of_mode(AppMode.WORKFLOW).id


# -- workflow-app-logs -------------------------------------------------------


async def test_logs_skip_debugging_runs(console: Console) -> None:
    app_id = workflow_id(console)
    runs = console.sim.dataset.records[app_id].workflow_runs
    logged = {item["workflow_run"]["id"] for item in await all_app_logs(console, app_id)}
    assert logged == {run.id for run in runs if run.triggered_from == APP_RUN}
    assert any(run.triggered_from == DEBUGGING for run in runs)


async def test_logs_newest_first(console: Console) -> None:
    items = await all_app_logs(console, workflow_id(console))
    times = [item["created_at"] for item in items]
    assert times == sorted(times, reverse=True)


async def test_logs_after_inclusive(console: Console) -> None:
    app_id = workflow_id(console)
    instant = NOW - timedelta(minutes=90, seconds=7)
    run = console.sim.dataset.add_workflow_run(app_id, instant)
    included = await app_logs(console, app_id, created_at__after=iso(instant), limit="100")
    excluded = await app_logs(console, app_id, created_at__after=iso(instant + timedelta(seconds=1)), limit="100")
    assert run.id in {item["workflow_run"]["id"] for item in included["data"]}
    assert run.id not in {item["workflow_run"]["id"] for item in excluded["data"]}


async def test_logs_before_inclusive(console: Console) -> None:
    app_id = workflow_id(console)
    instant = NOW - timedelta(days=9, minutes=3)
    run = console.sim.dataset.add_workflow_run(app_id, instant)
    included = await app_logs(console, app_id, created_at__before=iso(instant), limit="100")
    excluded = await app_logs(console, app_id, created_at__before=iso(instant - timedelta(seconds=1)), limit="100")
    assert run.id in {item["workflow_run"]["id"] for item in included["data"]}
    assert run.id not in {item["workflow_run"]["id"] for item in excluded["data"]}


async def test_logs_naive_time_is_utc(console: Console) -> None:
    app_id = workflow_id(console)
    after = NOW - timedelta(days=2)
    with_z = await app_logs(console, app_id, created_at__after=iso(after), limit="100")
    naive = await app_logs(console, app_id, created_at__after=iso(after).rstrip("Z"), limit="100")
    tokyo = after.astimezone(timezone(timedelta(hours=9))).isoformat()
    offset = await app_logs(console, app_id, created_at__after=tokyo, limit="100")
    assert with_z["total"] > 0
    assert naive["total"] == with_z["total"]
    assert offset["total"] == with_z["total"]


async def test_logs_invalid_time_400(console: Console) -> None:
    reply = await console.get(
        f"{PREFIX}/{workflow_id(console)}/workflow-app-logs",
        console.sim.issue_session(),
        params={"created_at__after": "yesterday"},
    )
    assert reply.status == 400
    assert reply.body["code"] == "invalid_param"
    assert "created_at__after" in reply.body["message"]


async def test_logs_page_past_end(console: Console) -> None:
    app_id = workflow_id(console)
    first = await app_logs(console, app_id, limit="100")
    beyond = await app_logs(console, app_id, page="50", limit="100")
    assert beyond["data"] == []
    assert beyond["has_more"] is False
    assert beyond["total"] == first["total"]


async def test_logs_has_more_boundary(console: Console) -> None:
    app_id = workflow_id(console)
    total = (await app_logs(console, app_id))["total"]
    # One page holding exactly every log has no more; one item less has more.
    exact = await app_logs(console, app_id, limit=str(total))
    short = await app_logs(console, app_id, limit=str(total - 1))
    assert exact["has_more"] is False
    assert short["has_more"] is True


async def test_logs_status_filter(console: Console) -> None:
    app_id = workflow_id(console)
    console.sim.dataset.add_workflow_run(app_id, NOW - timedelta(hours=1), status="failed", total_tokens=0)
    failed = await all_app_logs(console, app_id, status="failed")
    assert failed
    assert {item["workflow_run"]["status"] for item in failed} == {"failed"}


async def test_logs_limit_zero_400(console: Console) -> None:
    reply = await console.get(
        f"{PREFIX}/{workflow_id(console)}/workflow-app-logs", console.sim.issue_session(), params={"limit": "0"}
    )
    assert reply.status == 400
    assert "greater than or equal to 1" in reply.body["message"]


async def test_logs_session_filter(console: Console) -> None:
    app_id = workflow_id(console)
    end_user = console.sim.dataset.add_end_user(app_id, session_id="customer-4242-zoe")
    run = console.sim.dataset.add_workflow_run(app_id, NOW - timedelta(hours=3), created_by=end_user.id)
    items = await all_app_logs(console, app_id, created_by_end_user_session_id="customer-4242-zoe")
    assert [item["workflow_run"]["id"] for item in items] == [run.id]
    assert items[0]["created_by_end_user"]["session_id"] == "customer-4242-zoe"


async def test_logs_keyword_matches_session_and_run(console: Console) -> None:
    app_id = workflow_id(console)
    end_user = console.sim.dataset.add_end_user(app_id, session_id="customer-7777-quinn")
    run = console.sim.dataset.add_workflow_run(app_id, NOW - timedelta(hours=4), created_by=end_user.id)
    by_session = await all_app_logs(console, app_id, keyword="7777-QUINN")
    by_run_id = await all_app_logs(console, app_id, keyword=run.id)
    assert [item["workflow_run"]["id"] for item in by_session] == [run.id]
    assert [item["workflow_run"]["id"] for item in by_run_id] == [run.id]


async def test_logs_account_filter(console: Console) -> None:
    app_id = workflow_id(console)
    admin = console.sim.admin
    run = console.sim.dataset.add_workflow_run(app_id, NOW - timedelta(hours=5), created_by=admin.id)
    items = await all_app_logs(console, app_id, created_by_account=admin.email)
    assert run.id in {item["workflow_run"]["id"] for item in items}
    assert {item["created_by_account"]["email"] for item in items} == {admin.email}
    assert {item["created_from"] for item in items} == {"installed-app"}


async def test_logs_detail_flag(console: Console) -> None:
    app_id = workflow_id(console)
    plain = await app_logs(console, app_id, limit="1")
    detailed = await app_logs(console, app_id, limit="1", detail="true")
    assert plain["data"][0]["details"] is None
    assert detailed["data"][0]["details"] == {"trigger_metadata": {}}


async def test_logs_future_runs_hidden(console: Console) -> None:
    app_id = workflow_id(console)
    run = console.sim.dataset.add_workflow_run(app_id, NOW + timedelta(minutes=5))
    before = {item["workflow_run"]["id"] for item in await all_app_logs(console, app_id)}
    console.sim.clock.advance(600)
    after = {item["workflow_run"]["id"] for item in await all_app_logs(console, app_id)}
    assert run.id not in before
    assert run.id in after


async def test_running_run_finishes(console: Console) -> None:
    app_id = workflow_id(console)
    sim = console.sim
    running = next(run for run in sim.dataset.records[app_id].workflow_runs if run.status == RUNNING)

    before = next(item for item in await all_app_logs(console, app_id) if item["workflow_run"]["id"] == running.id)
    sim.clock.advance(30)
    finished = sim.finish_run(running.id)
    after = next(item for item in await all_app_logs(console, app_id) if item["workflow_run"]["id"] == running.id)
    nodes = (await console.get(f"{PREFIX}/{app_id}/workflow-runs/{running.id}/node-executions", sim.issue_session())).body

    assert before["workflow_run"]["status"] == "running"
    assert before["workflow_run"]["total_tokens"] == 0
    assert before["workflow_run"]["finished_at"] is None
    assert after["workflow_run"]["status"] == "succeeded"
    assert after["workflow_run"]["total_tokens"] == finished.total_tokens > 0
    assert after["workflow_run"]["finished_at"] == int(sim.clock.now().timestamp())
    assert "running" not in {node["status"] for node in nodes["data"]}
    assert nodes["data"][-1]["node_type"] == "end"


async def test_running_nodes_hide_usage(console: Console) -> None:
    app_id = workflow_id(console)
    sim = console.sim
    running = next(run for run in sim.dataset.records[app_id].workflow_runs if run.status == RUNNING)
    nodes = (await console.get(f"{PREFIX}/{app_id}/workflow-runs/{running.id}/node-executions", sim.issue_session())).body
    busy = [node for node in nodes["data"] if node["status"] == "running"]
    assert busy
    assert all(node["process_data"] is None and node["finished_at"] is None for node in busy)
    assert all(node["execution_metadata"] == {} for node in busy)


async def test_finish_run_failed(console: Console) -> None:
    app_id = workflow_id(console)
    sim = console.sim
    run = sim.dataset.add_workflow_run(app_id, NOW - timedelta(seconds=20), status=RUNNING)
    finished = sim.finish_run(run.id, status="failed")
    detail = (await console.get(f"{PREFIX}/{app_id}/workflow-runs/{run.id}", sim.issue_session())).body
    assert finished.status == "failed"
    assert detail["status"] == "failed"
    assert detail["error"].startswith("Node ")
    assert detail["elapsed_time"] == pytest.approx(20.0)


def test_finish_run_rejects_finished(simulator: DifySimulator) -> None:
    app_id = simulator.app_of_mode(AppMode.WORKFLOW).id
    run = simulator.dataset.add_workflow_run(app_id, NOW - timedelta(hours=1))
    with pytest.raises(ValueError, match="not running"):
        simulator.finish_run(run.id)
    with pytest.raises(LookupError):
        simulator.finish_run("00000000-0000-4000-8000-000000000000")


# -- workflow-runs -----------------------------------------------------------


async def run_list(console: Console, path: str, **params: str) -> dict[str, Any]:
    reply = await console.get(path, console.sim.issue_session(), params=params)
    assert reply.status == 200, reply.body
    return reply.body


async def test_run_list_default_is_debugging(console: Console) -> None:
    app_id = workflow_id(console)
    body = await run_list(console, f"{PREFIX}/{app_id}/workflow-runs", limit="100")
    debugging = {run.id for run in console.sim.dataset.records[app_id].workflow_runs if run.triggered_from == DEBUGGING}
    assert debugging
    assert {item["id"] for item in body["data"]} == debugging
    assert {item["version"] for item in body["data"]} == {"draft"}


async def test_run_list_app_run_filter(console: Console) -> None:
    app_id = workflow_id(console)
    body = await run_list(console, f"{PREFIX}/{app_id}/workflow-runs", limit="100", triggered_from="app-run")
    app_runs = [run.id for run in reversed(console.sim.dataset.records[app_id].workflow_runs) if run.triggered_from == APP_RUN]
    assert [item["id"] for item in body["data"]] == app_runs[:100]


async def test_run_list_status_filter(console: Console) -> None:
    app_id = workflow_id(console)
    body = await run_list(console, f"{PREFIX}/{app_id}/workflow-runs", limit="100", triggered_from="app-run", status="running")
    assert body["data"]
    assert {item["status"] for item in body["data"]} == {"running"}
    assert {item["finished_at"] for item in body["data"]} == {None}


async def test_run_list_old_profile_ignores_filter() -> None:
    simulator = DifySimulator(profile="1.9.1", seed=7, secret_key="s" * 48)
    app_id = simulator.app_of_mode(AppMode.WORKFLOW).id
    async with serving(simulator) as console:
        reply = await console.get(
            f"{PREFIX}/{app_id}/workflow-runs",
            simulator.issue_session(),
            mode="bearer-nocsrf",
            params={"triggered_from": "app-run", "limit": "100"},
        )
    debugging = {run.id for run in simulator.dataset.records[app_id].workflow_runs if run.triggered_from == DEBUGGING}
    assert reply.status == 200
    assert {item["id"] for item in reply.body["data"]} == debugging


async def test_run_list_cursor_pages(console: Console) -> None:
    app_id = workflow_id(console)
    path = f"{PREFIX}/{app_id}/workflow-runs"
    seen: list[str] = []
    params = {"limit": "7", "triggered_from": "app-run"}
    while True:
        body = await run_list(console, path, **params)
        seen.extend(item["id"] for item in body["data"])
        if not body["has_more"]:
            break
        params["last_id"] = body["data"][-1]["id"]
    expected = [run.id for run in reversed(console.sim.dataset.records[app_id].workflow_runs) if run.triggered_from == APP_RUN]
    assert seen == expected


async def test_run_list_cursor_skips_same_second(console: Console) -> None:
    app_id = workflow_id(console)
    instant = NOW - timedelta(minutes=1)
    older = console.sim.dataset.add_workflow_run(app_id, instant - timedelta(seconds=1), triggered_from=DEBUGGING)
    first = console.sim.dataset.add_workflow_run(app_id, instant, triggered_from=DEBUGGING)
    twin = console.sim.dataset.add_workflow_run(app_id, instant, triggered_from=DEBUGGING)
    body = await run_list(console, f"{PREFIX}/{app_id}/workflow-runs", limit="100", last_id=first.id)
    ids = [item["id"] for item in body["data"]]
    # Only runs strictly older than the cursor follow, so the twin in the same second is skipped.
    assert ids[0] == older.id
    assert twin.id not in ids


async def test_run_list_unknown_cursor_400(console: Console) -> None:
    reply = await console.get(
        f"{PREFIX}/{workflow_id(console)}/workflow-runs",
        console.sim.issue_session(),
        params={"last_id": "00000000-0000-4000-8000-000000000000"},
    )
    assert reply.status == 400
    assert reply.body["code"] == "invalid_param"


async def test_run_list_wrong_mode_404(console: Console) -> None:
    chat = console.sim.app_of_mode(AppMode.CHAT).id
    reply = await console.get(f"{PREFIX}/{chat}/workflow-runs", console.sim.issue_session())
    assert reply.status == 404
    assert reply.body["code"] == "app_not_found"
    assert reply.body["message"].startswith("App mode is not in the supported list")


async def test_advanced_chat_runs_name_messages(console: Console) -> None:
    app = console.sim.app_of_mode(AppMode.ADVANCED_CHAT)
    body = await run_list(console, f"{PREFIX}/{app.id}/advanced-chat/workflow-runs", limit="100", triggered_from="app-run")
    messages = {message.id: message for message in console.sim.dataset.records[app.id].messages}
    assert body["data"]
    for item in body["data"]:
        assert messages[item["message_id"]].conversation_id == item["conversation_id"]


async def test_advanced_chat_runs_reject_workflow(console: Console) -> None:
    reply = await console.get(f"{PREFIX}/{workflow_id(console)}/advanced-chat/workflow-runs", console.sim.issue_session())
    assert reply.status == 404
    assert "{'advanced-chat'}" in reply.body["message"]


async def test_run_count_by_status(console: Console) -> None:
    app_id = workflow_id(console)
    body = await run_list(console, f"{PREFIX}/{app_id}/workflow-runs/count", triggered_from="app-run")
    runs = [run for run in console.sim.dataset.records[app_id].workflow_runs if run.triggered_from == APP_RUN]
    assert body["total"] == len(runs)
    assert body["running"] == sum(1 for run in runs if run.status == RUNNING)
    assert body["partial_succeeded"] == sum(1 for run in runs if run.status == "partial-succeeded")


async def test_run_count_time_range(console: Console) -> None:
    app_id = workflow_id(console)
    run = console.sim.dataset.add_workflow_run(app_id, NOW - timedelta(seconds=20), triggered_from=DEBUGGING)
    body = await run_list(console, f"{PREFIX}/{app_id}/workflow-runs/count", time_range="30s")
    assert body["total"] == 1
    assert body[run.status] == 1


async def test_run_count_absent_before_192() -> None:
    simulator = DifySimulator(profile="1.9.1", seed=7, secret_key="s" * 48)
    app_id = simulator.app_of_mode(AppMode.WORKFLOW).id
    async with serving(simulator) as console:
        reply = await console.get(f"{PREFIX}/{app_id}/workflow-runs/count", simulator.issue_session(), mode="bearer-nocsrf")
    assert reply.status == 404
    assert reply.content_type.startswith("text/html")


# -- run detail and node executions ------------------------------------------


async def node_executions(console: Console, app_id: str, run_id: str) -> list[dict[str, Any]]:
    reply = await console.get(f"{PREFIX}/{app_id}/workflow-runs/{run_id}/node-executions", console.sim.issue_session())
    assert reply.status == 200, reply.body
    return reply.body["data"]


@pytest.fixture
def iteration_run(simulator: DifySimulator) -> Any:
    app_id = simulator.app_of_mode(AppMode.WORKFLOW).id
    children = (
        NodeSpec("llm", prompt_tokens=100, completion_tokens=40),
        NodeSpec("llm", prompt_tokens=120, completion_tokens=60),
        NodeSpec("llm", "langgenius/anthropic/anthropic", "claude-3-5-sonnet-20241022", 90, 30),
    )
    specs = [NodeSpec("iteration", children=children), NodeSpec("agent", prompt_tokens=200, completion_tokens=50)]
    return simulator.dataset.add_workflow_run(app_id, NOW - timedelta(minutes=10), nodes=specs, elapsed_time=6.0)


async def test_iteration_aggregates_children(console: Console, iteration_run: Any) -> None:
    nodes = await node_executions(console, workflow_id(console), iteration_run.id)
    container = next(node for node in nodes if node["node_type"] == "iteration")
    children = [node for node in nodes if node["execution_metadata"].get("iteration_id") == container["node_id"]]

    assert len(children) == 3
    assert [child["execution_metadata"]["iteration_index"] for child in children] == [0, 1, 2]
    assert container["execution_metadata"]["total_tokens"] == sum(child["process_data"]["usage"]["total_tokens"] for child in children)
    assert Decimal(container["execution_metadata"]["total_price"]) == sum(
        Decimal(child["execution_metadata"]["total_price"]) for child in children
    )
    assert container["process_data"] is None


async def test_agent_usage_in_outputs(console: Console, iteration_run: Any) -> None:
    nodes = await node_executions(console, workflow_id(console), iteration_run.id)
    agent = next(node for node in nodes if node["node_type"] == "agent")
    assert "model_name" not in agent["process_data"]
    assert "usage" not in agent["process_data"]
    assert agent["outputs"]["usage"]["prompt_tokens"] == 200
    assert agent["execution_metadata"]["total_tokens"] == 250


async def test_nodes_in_index_order(console: Console, iteration_run: Any) -> None:
    nodes = await node_executions(console, workflow_id(console), iteration_run.id)
    assert [node["index"] for node in nodes] == list(range(1, len(nodes) + 1))
    assert [node["node_type"] for node in nodes] == ["start", "iteration", "llm", "llm", "llm", "agent", "end"]


async def test_run_total_equals_leaf_usage(console: Console, iteration_run: Any) -> None:
    nodes = await node_executions(console, workflow_id(console), iteration_run.id)
    leaves = [node for node in nodes if node["node_type"] in ("llm", "agent")]
    assert iteration_run.total_tokens == sum(node["execution_metadata"]["total_tokens"] for node in leaves) == 690


async def test_llm_usage_prices_are_strings(console: Console, iteration_run: Any) -> None:
    nodes = await node_executions(console, workflow_id(console), iteration_run.id)
    usage = next(node for node in nodes if node["node_type"] == "llm")["process_data"]["usage"]
    assert usage["prompt_price"] == "0.0000150"
    assert usage["completion_price"] == "0.0000240"
    assert usage["total_price"] == "0.0000390"
    assert usage["currency"] == "USD"


async def test_truncation_flags_by_profile(simulator: DifySimulator) -> None:
    old = DifySimulator(profile="1.9.1", seed=7, secret_key="s" * 48)
    for sim, mode, expected in ((simulator, "cookie", True), (old, "bearer-nocsrf", False)):
        app_id = sim.app_of_mode(AppMode.WORKFLOW).id
        run = next(run for run in sim.dataset.records[app_id].workflow_runs if run.status == "succeeded")
        async with serving(sim) as console:
            reply = await console.get(
                f"{PREFIX}/{app_id}/workflow-runs/{run.id}/node-executions", sim.issue_session(), mode=mode
            )
        assert ("inputs_truncated" in reply.body["data"][0]) is expected, sim.profile.name


async def test_run_detail_unknown_404(console: Console) -> None:
    app_id = workflow_id(console)
    unknown = await console.get(f"{PREFIX}/{app_id}/workflow-runs/00000000-0000-4000-8000-000000000000", console.sim.issue_session())
    malformed = await console.get(f"{PREFIX}/{app_id}/workflow-runs/not-a-uuid", console.sim.issue_session())
    assert unknown.status == 404
    assert unknown.body["code"] == "not_found"
    assert malformed.status == 404
    assert malformed.content_type.startswith("text/html")


async def test_detail_matches_log(console: Console) -> None:
    app_id = workflow_id(console)
    item = (await app_logs(console, app_id, limit="1", status="succeeded"))["data"][0]
    run_id = item["workflow_run"]["id"]
    detail = (await console.get(f"{PREFIX}/{app_id}/workflow-runs/{run_id}", console.sim.issue_session())).body
    nodes = await node_executions(console, app_id, run_id)
    assert detail["total_tokens"] == item["workflow_run"]["total_tokens"]
    assert detail["total_steps"] == item["workflow_run"]["total_steps"] == len(nodes)
    assert detail["created_by_end_user"] == item["created_by_end_user"]


@pytest.fixture
async def console_191() -> AsyncIterator[Console]:
    simulator = DifySimulator(profile="1.9.1", seed=7, secret_key="s" * 48)
    async with serving(simulator) as client:
        yield client


async def test_logs_old_profile_shape(console_191: Console) -> None:
    app_id = console_191.sim.app_of_mode(AppMode.WORKFLOW).id
    reply = await console_191.get(f"{PREFIX}/{app_id}/workflow-app-logs", console_191.sim.issue_session(), mode="bearer-nocsrf")
    item = reply.body["data"][0]
    assert "details" not in item
    assert "triggered_from" not in item["workflow_run"]


async def test_logs_old_profile_error_shape(console_191: Console) -> None:
    app_id = console_191.sim.app_of_mode(AppMode.WORKFLOW).id
    reply = await console_191.get(
        f"{PREFIX}/{app_id}/workflow-app-logs", console_191.sim.issue_session(), mode="bearer-nocsrf", params={"limit": "101"}
    )
    assert reply.status == 400
    assert reply.body == {
        "code": "invalid_param",
        "message": "Invalid argument: 101. argument must be within the range 1 - 100",
        "params": "limit",
    }


async def test_logs_091_ignore_time_filters() -> None:
    simulator = DifySimulator(profile="0.9.1", seed=7, secret_key="s" * 48)
    app_id = simulator.app_of_mode(AppMode.WORKFLOW).id
    path = f"{PREFIX}/{app_id}/workflow-app-logs"
    async with serving(simulator) as console:
        tokens = simulator.issue_session()
        unfiltered = await console.get(path, tokens, mode="bearer-nocsrf")
        filtered = await console.get(path, tokens, mode="bearer-nocsrf", params={"created_at__after": iso(NOW)})
    assert filtered.status == 200
    assert filtered.body["total"] == unfiltered.body["total"] > 0
