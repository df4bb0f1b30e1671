"""The service API (``/v1``) with app API keys: authentication, app info and workflow logs."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from otel_dify.dify.models import AppMode
from otel_dify.simulator import DifySimulator
from tests.simulator.support import Console, serving, session_headers

NOW = datetime(2026, 12, 4, 19, 30, tzinfo=timezone.utc)


def key_headers(console: Console, mode: AppMode) -> dict[str, str]:
    return {"Authorization": f"Bearer {console.sim.app_api_key(console.sim.app_of_mode(mode).id)}"}


def test_key_format() -> None:
    simulator = DifySimulator(seed=7)
    key = simulator.app_api_key(simulator.app_of_mode(AppMode.WORKFLOW).id)
    assert re.fullmatch(r"app-[A-Za-z0-9]{24}", key)


def test_key_stable_per_app() -> None:
    first, second = DifySimulator(seed=7), DifySimulator(seed=7)
    workflow = first.app_of_mode(AppMode.WORKFLOW).id
    chat = first.app_of_mode(AppMode.CHAT).id
    assert first.app_api_key(workflow) == second.app_api_key(workflow)
    assert first.app_api_key(workflow) != first.app_api_key(chat)


async def test_info_of_key_app(console: Console) -> None:
    reply = await console.get("/v1/info", headers=key_headers(console, AppMode.WORKFLOW))
    app = console.sim.app_of_mode(AppMode.WORKFLOW)
    assert reply.status == 200
    assert reply.body == {
        "name": app.name,
        "description": "Simulated workflow app",
        "tags": [],
        "mode": "workflow",
        "author_name": console.sim.admin.name,
    }


async def test_info_without_key_401(console: Console) -> None:
    reply = await console.get("/v1/info")
    assert reply.status == 401
    assert reply.body["message"] == "Authorization header must be provided and start with 'Bearer'"
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="api"'


async def test_info_other_scheme_401(console: Console) -> None:
    key = console.sim.app_api_key(console.sim.app_of_mode(AppMode.CHAT).id)
    reply = await console.get("/v1/info", headers={"Authorization": f"Basic {key}"})
    assert reply.status == 401
    assert reply.body["message"] == "Authorization header must be provided and start with 'Bearer'"


async def test_info_unknown_key_401(console: Console) -> None:
    reply = await console.get("/v1/info", headers={"Authorization": "Bearer app-" + "y" * 24})
    assert reply.status == 401
    assert reply.body["message"] == "Access token is invalid"


async def test_info_console_token_401(console: Console) -> None:
    reply = await console.get("/v1/info", headers=session_headers(console.sim.issue_session(), mode="bearer-nocsrf"))
    assert reply.status == 401
    assert reply.body["message"] == "Access token is invalid"


async def test_app_key_on_console_401(console: Console) -> None:
    reply = await console.get("/console/api/apps", headers=key_headers(console, AppMode.WORKFLOW))
    assert reply.status == 401
    assert reply.body["message"] == "Invalid token."


async def test_logs_match_console(console: Console) -> None:
    app_id = console.sim.app_of_mode(AppMode.WORKFLOW).id
    service = await console.get("/v1/workflows/logs", headers=key_headers(console, AppMode.WORKFLOW), params={"limit": "100"})
    panel = await console.get(
        f"/console/api/apps/{app_id}/workflow-app-logs", console.sim.issue_session(), params={"limit": "100"}
    )
    assert service.status == 200
    assert service.body["total"] == panel.body["total"]
    assert [item["id"] for item in service.body["data"]] == [item["id"] for item in panel.body["data"]]


async def test_logs_chat_keys_empty(console: Console) -> None:
    for mode in (AppMode.CHAT, AppMode.ADVANCED_CHAT):
        reply = await console.get("/v1/workflows/logs", headers=key_headers(console, mode))
        assert reply.status == 200, mode
        assert reply.body == {"page": 1, "limit": 20, "total": 0, "has_more": False, "data": []}, mode


async def test_logs_status_subset(console: Console) -> None:
    headers = key_headers(console, AppMode.WORKFLOW)
    failed = await console.get("/v1/workflows/logs", headers=headers, params={"status": "failed"})
    partial = await console.get("/v1/workflows/logs", headers=headers, params={"status": "partial-succeeded"})
    assert failed.status == 200
    assert partial.status == 400
    assert "Input should be 'succeeded', 'failed' or 'stopped'" in partial.body["message"]


async def test_logs_window_inclusive(console: Console) -> None:
    app_id = console.sim.app_of_mode(AppMode.WORKFLOW).id
    instant = NOW - timedelta(hours=2)
    run = console.sim.dataset.add_workflow_run(app_id, instant)
    stamp = instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    reply = await console.get(
        "/v1/workflows/logs",
        headers=key_headers(console, AppMode.WORKFLOW),
        params={"created_at__after": stamp, "created_at__before": stamp},
    )
    assert [item["workflow_run"]["id"] for item in reply.body["data"]] == [run.id]


async def test_run_detail_inputs_string(console: Console) -> None:
    app_id = console.sim.app_of_mode(AppMode.WORKFLOW).id
    run = console.sim.dataset.add_workflow_run(app_id, NOW - timedelta(hours=1), total_tokens=420)
    reply = await console.get(f"/v1/workflows/run/{run.id}", headers=key_headers(console, AppMode.WORKFLOW))
    assert reply.status == 200
    assert isinstance(reply.body["inputs"], str)
    assert reply.body["total_tokens"] == 420


async def test_run_detail_other_app_404(console: Console) -> None:
    app_id = console.sim.app_of_mode(AppMode.WORKFLOW).id
    run = console.sim.dataset.add_workflow_run(app_id, NOW - timedelta(hours=1))
    reply = await console.get(f"/v1/workflows/run/{run.id}", headers=key_headers(console, AppMode.ADVANCED_CHAT))
    assert reply.status == 404


async def test_request_log_kind(console: Console) -> None:
    await console.get("/v1/info", headers=key_headers(console, AppMode.CHAT))
    assert console.sim.request_log[-1].auth_kind == "app-key"
    assert console.sim.request_log[-1].path == "/v1/info"


async def test_user_endpoints_unserved_but_logged(console: Console) -> None:
    headers = key_headers(console, AppMode.CHAT)
    reply = await console.get("/v1/messages", headers=headers, params={"user": "someone", "conversation_id": "x"})
    assert reply.status == 404
    assert console.sim.count_requests(path="/v1/messages") == 1
    assert console.sim.count_requests(path="/v1/conversations") == 0


async def test_info_091_fields() -> None:
    simulator = DifySimulator(profile="0.9.1", seed=7, secret_key="s" * 48)
    key = simulator.app_api_key(simulator.app_of_mode(AppMode.CHAT).id)
    async with serving(simulator) as console:
        reply = await console.get("/v1/info", headers={"Authorization": f"Bearer {key}"})
    assert reply.status == 200
    assert set(reply.body) == {"name", "description", "tags"}
