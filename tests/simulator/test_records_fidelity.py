"""Captured Dify 1.15.0 record-level requests, replayed against the simulator, get responses of the same shape.

The captures in tests/fixtures/dify-1.15/records/ cover workflow app logs,
workflow runs and node executions, chat conversations and messages, and
the service API. Replaying swaps the capture's app, run, conversation and
message ids for simulator ids of the same role, and its auth mode for the
simulator's session or app key. The comparison is the one of replay.py
(status, content type, keys and value types, error code and message),
with three allowances explained at ``record_mismatches``.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from otel_dify.dify.models import AppMode
from otel_dify.simulator import DifySimulator
from otel_dify.simulator.records import Conversation
from tests.simulator.conftest import ADMIN_KEY
from tests.simulator.replay import id_map, response_mismatches, schema_of, shape_mismatches, translate
from tests.simulator.support import Reply, serving, session_headers

CAPTURES = Path(__file__).parent.parent / "fixtures" / "dify-1.15" / "records"
NOW = datetime(2026, 12, 4, 19, 30, tzinfo=timezone.utc)

CAPTURE_RUN = "724ce958-dcd5-4500-9e90-5f9a069ee434"
CAPTURE_CHAT_CONVERSATION = "143bca2f-a225-40c6-be88-f806a22139c0"
CAPTURE_FIRST_ID = "f9910b44-377a-4fa0-8219-f59c702053dc"
CAPTURE_CHATFLOW_CONVERSATION = "5ecc5307-8b8f-47ed-b490-8fd01be3a093"
APP_KEY_MODES = {
    "apikey:workflow": AppMode.WORKFLOW,
    "apikey:chat": AppMode.CHAT,
    "apikey:advanced-chat": AppMode.ADVANCED_CHAT,
}
#: Fields whose value may be null in one record and a string or object in
#: another. The captured data happened to show only one of the two.
NULLABLE_FIELDS = frozenset(
    {
        "error",
        "finished_at",
        "from_end_user_id",
        "from_end_user_session_id",
        "from_account_id",
        "from_account_name",
        "created_by_account",
        "created_by_end_user",
        "summary",
        "workflow_run_id",
        "from_account",
    }
)
#: Fields whose content depends on the app's own graph and inputs; only their type is compared.
FREE_FORM_FIELDS = ("inputs", "outputs")


def capture_names() -> list[str]:
    return sorted(path.stem for path in CAPTURES.glob("*.json"))


def load(name: str) -> dict[str, Any]:
    with (CAPTURES / f"{name}.json").open(encoding="utf-8") as handle:
        return json.load(handle)


def add_record_traffic(sim: DifySimulator) -> None:
    """Add the records the capture windows found, so those windows are not empty here either.

    The real server had 127 app logs (so a second page of 100 had items),
    failed runs among them, and chat conversations started on 3 and 4
    December in America/New_York.
    """
    workflow = sim.app_of_mode(AppMode.WORKFLOW).id
    statuses = ("succeeded", "succeeded", "failed", "succeeded", "stopped")
    for number in range(70):
        created_at = NOW - timedelta(hours=2 + number * 3)
        sim.dataset.add_workflow_run(workflow, created_at, status=statuses[number % len(statuses)], total_tokens=300 + number)

    chat = sim.app_of_mode(AppMode.CHAT).id
    for hours_ago in (6, 20, 30):
        first = sim.dataset.add_message(chat, NOW - timedelta(hours=hours_ago))
        sim.dataset.add_message(chat, NOW - timedelta(hours=hours_ago, minutes=-3), conversation_id=first.conversation_id)


def chat_conversation(sim: DifySimulator, mode: AppMode, *, min_messages: int) -> Conversation:
    """Return an end user's conversation of the newest app of ``mode`` with at least ``min_messages`` messages."""
    app = sim.app_of_mode(mode)
    records = sim.dataset.records[app.id]
    for conversation in records.conversations:
        count = sum(1 for message in records.messages if message.conversation_id == conversation.id)
        if conversation.from_end_user_id and count >= min_messages:
            return conversation
    raise LookupError(f"no {mode.value} conversation with {min_messages} messages")


def record_ids(sim: DifySimulator) -> dict[str, str]:
    """Map the capture's app, run, conversation and message ids to simulator ids of the same role."""
    ids = id_map(sim)
    workflow = sim.app_of_mode(AppMode.WORKFLOW)
    # A succeeded app run with the captured graph: start, one LLM node, end.
    for run in reversed(sim.dataset.records[workflow.id].workflow_runs):
        nodes = sim.dataset.nodes_of(workflow.id, run.id)
        if run.log_id and run.status == "succeeded" and [node.node_type for node in nodes] == ["start", "llm", "end"]:
            ids[CAPTURE_RUN] = run.id
            break

    chat = chat_conversation(sim, AppMode.CHAT, min_messages=4)
    ids[CAPTURE_CHAT_CONVERSATION] = chat.id
    messages = [m for m in sim.dataset.records[chat.app_id].messages if m.conversation_id == chat.id]
    # The captured first_id is the second newest of four messages.
    ids[CAPTURE_FIRST_ID] = messages[-2].id
    ids[CAPTURE_CHATFLOW_CONVERSATION] = chat_conversation(sim, AppMode.ADVANCED_CHAT, min_messages=1).id
    return ids


def request_headers(sim: DifySimulator, auth_mode: str) -> dict[str, str]:
    if auth_mode in APP_KEY_MODES:
        return {"Authorization": f"Bearer {sim.app_api_key(sim.app_of_mode(APP_KEY_MODES[auth_mode]).id)}"}
    if auth_mode == "raw":
        # An unknown key of the right form.
        return {"Authorization": "Bearer app-" + "x" * 23}
    if auth_mode == "none":
        return {}
    return session_headers(sim.issue_session(), mode=auth_mode)


def _strip(body: Any, field: str) -> None:
    """Replace ``field`` of every object in ``body`` (recursively) by its type's empty value."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key == field and isinstance(value, (dict, list)):
                body[key] = type(value)()
            else:
                _strip(value, field)
    elif isinstance(body, list):
        for item in body:
            _strip(item, field)


def _tolerated(problem: str) -> bool:
    where = problem.split(":", 1)[0]
    last = where.rsplit(".", 1)[-1].split("[", 1)[0]
    if problem.endswith("empty list, the capture has items"):
        # Only the top-level list must have items; nested lists (feedbacks,
        # prompts) are empty or not depending on the record.
        return where != "body.data"
    return last in NULLABLE_FIELDS and ("type null" in problem or "expected ['null']" in problem)


def record_mismatches(capture: dict[str, Any], reply: Reply, ids: dict[str, str]) -> list[str]:
    """Compare like ``response_mismatches``, with three allowances.

    A nested list may be empty. A field in ``NULLABLE_FIELDS`` may be null
    where the capture has a value, or the other way round. The free-form
    ``inputs``/``outputs`` of a run detail and the graph's node ``data`` are
    compared by type only. Node executions are compared per node type,
    because each type has its own ``process_data`` and ``outputs`` keys.
    """
    expected = copy.deepcopy(capture)
    actual_body = copy.deepcopy(reply.body)
    path = expected["request"]["path"]

    if path.endswith("/node-executions") and reply.status == 200:
        problems = _node_mismatches(expected["response"]["body"]["data"], actual_body.get("data", []))
        expected["response"]["body"] = {"data": []}
        actual_body = {"data": []}
    else:
        problems = []
    if "/workflow-runs/" in path and isinstance(actual_body, dict) and "graph" in actual_body:
        for body in (expected["response"]["body"], actual_body):
            _strip(body, "data")
            for field in FREE_FORM_FIELDS:
                _strip(body, field)

    stripped = Reply(reply.status, reply.headers, actual_body, reply.text)
    problems.extend(response_mismatches(expected, stripped, ids))
    return [problem for problem in problems if not _tolerated(problem)]


def _node_mismatches(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> list[str]:
    problems = []
    for node_type in sorted({node["node_type"] for node in expected}):
        schema = schema_of([node for node in expected if node["node_type"] == node_type])
        ours = [node for node in actual if node["node_type"] == node_type]
        if not ours:
            problems.append(f"no {node_type} node")
        problems.extend(shape_mismatches(schema, ours, f"body.data[{node_type}]"))
    return problems


def test_fixtures_cover_record_captures() -> None:
    names = capture_names()
    for prefix in ("50_wf_logs_", "51_wf_run", "60_chat_conversations_", "62_chat_messages", "70_v1_info_", "71_v1_", "73_v1_info_"):
        assert any(name.startswith(prefix) for name in names), prefix


@pytest.mark.parametrize("name", capture_names())
async def test_record_capture_replay(name: str) -> None:
    capture = load(name)
    simulator = DifySimulator(profile="1.15", seed=11, admin_api_key=ADMIN_KEY, secret_key="k" * 48)
    add_record_traffic(simulator)
    ids = record_ids(simulator)
    request = capture["request"]

    async with serving(simulator) as console:
        reply = await console.request(
            request["method"],
            translate(request["path"], ids),
            headers=request_headers(simulator, request["auth_mode"]),
            params={key: translate(value, ids) for key, value in request["query"].items()},
        )

    assert record_mismatches(capture, reply, ids) == []


def test_node_comparison_detects_missing_usage() -> None:
    capture = load("51_wf_run_node_executions")
    body = copy.deepcopy(capture["response"]["body"])
    del body["data"][1]["process_data"]["usage"]
    reply = Reply(200, capture_headers(capture), body, json.dumps(body))
    assert record_mismatches(capture, reply, {}) == ["body.data[llm][0].process_data: keys missing ['usage'], extra []"]


def test_comparison_detects_string_tokens() -> None:
    capture = load("50_wf_logs_p1_l5")
    body = copy.deepcopy(capture["response"]["body"])
    body["data"][0]["workflow_run"]["total_tokens"] = "950"
    reply = Reply(200, capture_headers(capture), body, json.dumps(body))
    assert record_mismatches(capture, reply, {}) == ["body.data[0].workflow_run.total_tokens: type str, expected ['int']"]


def test_comparison_detects_empty_page() -> None:
    capture = load("50_wf_logs_l100_p2")
    body = dict(capture["response"]["body"], data=[])
    reply = Reply(200, capture_headers(capture), body, json.dumps(body))
    assert record_mismatches(capture, reply, {}) == ["body.data: empty list, the capture has items"]


def capture_headers(capture: dict[str, Any]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({name: value for name, value in capture["response"]["headers"]}))
