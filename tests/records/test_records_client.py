"""The record calls of the console and service API clients, against captured bodies on loopback."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

import pytest
from pydantic import SecretStr

from otel_dify.dify.auth import AdminKeyCredentials
from otel_dify.dify.client import DifyClient
from otel_dify.dify.errors import AuthenticationError, InvalidResponseError, NotFoundError
from otel_dify.dify.records_client import ConsoleRecordsClient, ServiceApiClient, iso_utc, service_app_id
from otel_dify.dify.transport import RetryPolicy, Transport
from otel_dify.logs import RedactionFilter, clear_secrets
from tests.records.replay import ReplayServer, serve
from tests.records.support import ADVANCED_CHAT_APP_ID, CHAT_APP_ID, WORKFLOW_APP_ID

ADMIN_KEY = "records-client-test-admin-key"
APP_KEY = "app-Zk3pQ9rT1vX5bN7mL2cH8dF4"
RUN_ID = "724ce958-dcd5-4500-9e90-5f9a069ee434"
PREFIX = f"/console/api/apps/{WORKFLOW_APP_ID}"


@asynccontextmanager
async def console(replay: ReplayServer) -> AsyncIterator[ConsoleRecordsClient]:
    async for base_url in serve(replay):
        transport = Transport(timeout_s=5.0, max_concurrency=2, ssl=False, retry=RetryPolicy(attempts=1))
        client = DifyClient(base_url, AdminKeyCredentials(api_key=SecretStr(ADMIN_KEY), workspace_id="ws-1"), transport)
        try:
            yield ConsoleRecordsClient(client)
        finally:
            await transport.close()


@asynccontextmanager
async def service(replay: ReplayServer) -> AsyncIterator[ServiceApiClient]:
    async for base_url in serve(replay):
        transport = Transport(timeout_s=5.0, max_concurrency=2, ssl=False, retry=RetryPolicy(attempts=1))
        try:
            yield ServiceApiClient(base_url, APP_KEY, transport)
        finally:
            await transport.close()
            clear_secrets()


def test_iso_utc_naive() -> None:
    assert iso_utc(1796411337) == "2026-12-04T19:08:57"


def test_service_app_id_stable_and_opaque() -> None:
    app_id = service_app_id(APP_KEY)

    assert app_id == service_app_id(APP_KEY)
    assert app_id.startswith("key-")
    assert len(app_id) == 20
    assert APP_KEY[4:] not in app_id
    assert service_app_id(APP_KEY + "x") != app_id


async def test_workflow_logs_query() -> None:
    replay = ReplayServer()
    replay.answer(f"{PREFIX}/workflow-app-logs", "50_wf_logs_created_window")

    async with console(replay) as records:
        page = await records.workflow_app_logs(
            WORKFLOW_APP_ID, created_after=1796326149, created_before=1796412549, page=2
        )

    assert page["limit"] == 5
    request = replay.requests[-1]
    assert request.query == {
        "created_at__after": "2026-12-03T19:29:09",
        "created_at__before": "2026-12-04T19:29:09",
        "page": "2",
        "limit": "100",
    }
    assert request.headers["X-WORKSPACE-ID"] == "ws-1"


async def test_advanced_chat_runs_filter_app_runs() -> None:
    replay = ReplayServer()
    replay.answer(f"/console/api/apps/{ADVANCED_CHAT_APP_ID}/advanced-chat/workflow-runs", "51_wf_runs_list")
    replay.answer(f"/console/api/apps/{WORKFLOW_APP_ID}/workflow-runs/{RUN_ID}", "51_wf_run_detail")

    async with console(replay) as records:
        # The version is learnt from a first response.
        await records.workflow_run(WORKFLOW_APP_ID, RUN_ID)
        await records.advanced_chat_runs(ADVANCED_CHAT_APP_ID, last_id=None)
        await records.advanced_chat_runs(ADVANCED_CHAT_APP_ID, last_id="run-9")

    first, second = replay.requests[1], replay.requests[2]
    assert first.query == {"triggered_from": "app-run", "limit": "100"}
    assert second.query == {"triggered_from": "app-run", "limit": "100", "last_id": "run-9"}


@pytest.mark.parametrize("version", ["1.9.1", "0.9.1", None])
async def test_advanced_chat_runs_refused_before_1_9_2(version: str | None) -> None:
    replay = ReplayServer(version=version)
    replay.answer(f"/console/api/apps/{WORKFLOW_APP_ID}/workflow-runs/{RUN_ID}", "51_wf_run_detail")

    async with console(replay) as records:
        await records.workflow_run(WORKFLOW_APP_ID, RUN_ID)
        requests_before = len(replay.requests)
        with pytest.raises(ValueError, match="1.9.2"):
            await records.advanced_chat_runs(ADVANCED_CHAT_APP_ID, last_id=None)

    assert len(replay.requests) == requests_before
    assert not records.supports_run_filters()


async def test_node_executions_body() -> None:
    replay = ReplayServer()
    replay.answer(f"{PREFIX}/workflow-runs/{RUN_ID}/node-executions", "51_wf_run_node_executions")

    async with console(replay) as records:
        nodes = await records.node_executions(WORKFLOW_APP_ID, RUN_ID)

    assert [node["node_type"] for node in nodes["data"]] == ["start", "llm", "end"]
    assert records.supports_log_time_filters()


async def test_conversations_sorted_by_update() -> None:
    replay = ReplayServer()
    replay.answer(f"/console/api/apps/{CHAT_APP_ID}/chat-conversations", "60_chat_conversations_chat_p2_l5")

    async with console(replay) as records:
        await records.chat_conversations(CHAT_APP_ID, updated_since="2026-12-03 14:29", page=2)

    assert replay.requests[-1].query == {
        "start": "2026-12-03 14:29",
        "sort_by": "updated_at",
        "page": "2",
        "limit": "100",
    }


async def test_messages_cursor_query() -> None:
    replay = ReplayServer()
    replay.answer(f"/console/api/apps/{CHAT_APP_ID}/chat-messages", "62_chat_messages_l2_first_id")

    async with console(replay) as records:
        await records.chat_messages(CHAT_APP_ID, "conv-1", first_id="msg-1")
        await records.chat_messages(CHAT_APP_ID, "conv-1", first_id=None)

    assert replay.requests[0].query == {"conversation_id": "conv-1", "limit": "100", "first_id": "msg-1"}
    assert replay.requests[1].query == {"conversation_id": "conv-1", "limit": "100"}


async def test_wrong_mode_is_not_found() -> None:
    replay = ReplayServer()
    replay.answer(f"/console/api/apps/{ADVANCED_CHAT_APP_ID}/workflow-app-logs", "50_wf_logs_on_advchat_app")

    async with console(replay) as records:
        with pytest.raises(NotFoundError):
            await records.workflow_app_logs(ADVANCED_CHAT_APP_ID, created_after=0, created_before=1, page=1)


async def test_body_not_object_rejected() -> None:
    replay = ReplayServer()
    replay.answer_body(f"{PREFIX}/workflow-runs/{RUN_ID}/node-executions", 200, [1, 2])

    async with console(replay) as records:
        with pytest.raises(InvalidResponseError, match="not a JSON object"):
            await records.node_executions(WORKFLOW_APP_ID, RUN_ID)


async def test_page_size_checked() -> None:
    replay = ReplayServer()

    async with console(replay) as records:
        with pytest.raises(ValueError, match="limit"):
            await records.chat_messages(CHAT_APP_ID, "conv", first_id=None, limit=101)

    assert replay.requests == []


async def test_service_calls_without_user() -> None:
    replay = ReplayServer()
    replay.answer("/v1/info", "70_v1_info_workflow")
    replay.answer("/v1/workflows/logs", "71_v1_workflows_logs_p2_l5")
    replay.answer(f"/v1/workflows/run/{RUN_ID}", "71_v1_workflow_run_detail")

    async with service(replay) as client:
        info = await client.info()
        logs = await client.workflow_logs(created_after=1796326149, created_before=1796412549, page=2)
        run = await client.workflow_run(RUN_ID)

    assert info["mode"] == "workflow"
    assert logs["page"] == 2
    assert run["id"] == RUN_ID
    assert [request.path for request in replay.requests] == [
        "/v1/info",
        "/v1/workflows/logs",
        f"/v1/workflows/run/{RUN_ID}",
    ]
    assert all("user" not in request.query for request in replay.requests)
    assert all(request.headers["Authorization"] == f"Bearer {APP_KEY}" for request in replay.requests)
    assert replay.requests[1].query["created_at__after"] == "2026-12-03T19:29:09"
    assert client.supports_log_time_filters()


async def test_service_bad_key_rejected() -> None:
    replay = ReplayServer()
    replay.answer("/v1/info", "73_v1_info_bad_key")

    async with service(replay) as client:
        with pytest.raises(AuthenticationError) as excinfo:
            await client.info()

    assert APP_KEY not in str(excinfo.value)
    assert excinfo.value.app_id == service_app_id(APP_KEY)


async def test_service_key_redacted_in_logs() -> None:
    replay = ReplayServer()

    async with service(replay):
        record = logging.LogRecord("test", logging.INFO, __file__, 1, "key %s", (APP_KEY,), None)
        RedactionFilter().filter(record)

    assert APP_KEY not in record.getMessage()
