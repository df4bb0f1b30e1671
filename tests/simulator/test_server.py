"""Console routes of the 1.15 profile: apps, account, workspaces, routing errors, request log."""

from __future__ import annotations

import pytest

from otel_dify.dify.models import AppMode
from otel_dify.simulator import DEFAULT_START, Dataset, DifySimulator
from tests.simulator.support import Console, serving, session_headers

HTML_TYPE = "text/html; charset=utf-8"


async def test_setup_unauthenticated(console: Console) -> None:
    reply = await console.get("/console/api/setup")
    assert reply.status == 200
    assert reply.body["step"] == "finished"


async def test_apps_default_page(console: Console) -> None:
    reply = await console.get("/console/api/apps", console.sim.issue_session())
    created = [item["created_at"] for item in reply.body["data"]]

    assert reply.body["page"] == 1
    assert reply.body["limit"] == 20
    assert reply.body["total"] == 5
    assert reply.body["has_more"] is False
    assert created == sorted(created, reverse=True)
    assert {item["mode"] for item in reply.body["data"]} == {mode.value for mode in AppMode}


async def test_apps_pages(console: Console) -> None:
    tokens = console.sim.issue_session()
    pages = [await console.get("/console/api/apps", tokens, params={"page": str(page), "limit": "2"}) for page in (1, 2, 3, 4)]
    ids = [item["id"] for reply in pages for item in reply.body["data"]]

    assert [reply.body["has_more"] for reply in pages] == [True, True, False, False]
    assert [len(reply.body["data"]) for reply in pages] == [2, 2, 1, 0]
    assert ids == [app.id for app in console.sim.apps()]
    assert pages[3].body == {"page": 4, "limit": 2, "total": 5, "has_more": False, "data": []}


async def test_apps_limit_bounds(console: Console) -> None:
    tokens = console.sim.issue_session()
    over = await console.get("/console/api/apps", tokens, params={"limit": "101"})
    zero = await console.get("/console/api/apps", tokens, params={"limit": "0"})
    page_zero = await console.get("/console/api/apps", tokens, params={"page": "0"})
    hundred = await console.get("/console/api/apps", tokens, params={"limit": "100"})

    assert over.status == 400
    assert over.body["message"] == (
        "1 validation error for AppListQuery\nlimit\n  Input should be less than or equal to 100 "
        "[type=less_than_equal, input_value='101', input_type=str]\n"
        "    For further information visit https://errors.pydantic.dev/2.12/v/less_than_equal"
    )
    assert zero.status == 400
    assert "greater_than_equal" in zero.body["message"]
    assert page_zero.status == 400
    assert page_zero.body["message"].startswith("1 validation error for AppListQuery\npage\n")
    assert hundred.status == 200


async def test_apps_two_errors(console: Console) -> None:
    reply = await console.get("/console/api/apps", console.sim.issue_session(), params={"page": "0", "limit": "abc"})
    assert reply.status == 400
    assert reply.body["message"].startswith("2 validation errors for AppListQuery\npage\n")
    assert "int_parsing" in reply.body["message"]


async def test_apps_mode_and_name_filter(console: Console) -> None:
    tokens = console.sim.issue_session()
    chat = await console.get("/console/api/apps", tokens, params={"mode": "chat"})
    named = await console.get("/console/api/apps", tokens, params={"name": "bot"})
    bad_mode = await console.get("/console/api/apps", tokens, params={"mode": "robot"})

    assert [item["mode"] for item in chat.body["data"]] == ["chat"]
    assert [item["name"] for item in named.body["data"]] == ["Support Bot (chat)"]
    assert bad_mode.status == 400


async def test_apps_unknown_params_ignored(console: Console) -> None:
    reply = await console.get("/console/api/apps", console.sim.issue_session(), params={"last_id": "x", "sort": "y"})
    assert reply.status == 200
    assert reply.body["total"] == 5


async def test_app_detail(console: Console) -> None:
    workflow = console.sim.app_of_mode(AppMode.WORKFLOW)
    reply = await console.get(f"/console/api/apps/{workflow.id}", console.sim.issue_session())
    assert reply.status == 200
    assert reply.body["mode"] == "workflow"
    assert reply.body["model_config"] is None
    assert reply.body["api_base_url"] == console.base_url + "/v1"


async def test_app_detail_uppercase_id(console: Console) -> None:
    chat = console.sim.app_of_mode(AppMode.CHAT)
    reply = await console.get(f"/console/api/apps/{chat.id.upper()}", console.sim.issue_session())
    assert reply.status == 200


async def test_other_workspace_app_not_found() -> None:
    sim = DifySimulator(dataset=Dataset.generate(2, DEFAULT_START, workspaces=2))
    other = list(sim.dataset.workspaces.values())[1]
    foreign = sim.apps(other.id)[0]
    async with serving(sim) as console:
        reply = await console.get(f"/console/api/apps/{foreign.id}/statistics/daily-messages", sim.issue_session())
        workspaces = await console.get("/console/api/workspaces", sim.issue_session())

    assert reply.status == 404
    assert reply.body["code"] == "app_not_found"
    assert reply.body["message"].startswith("App not found. You have requested this URI [")
    assert [item["current"] for item in workspaces.body["workspaces"]] == [True, False]


async def test_unknown_path_html(console: Console) -> None:
    tokens = console.sim.issue_session()
    chat = console.sim.app_of_mode(AppMode.CHAT)
    non_uuid = await console.get("/console/api/apps/not-a-uuid/statistics/daily-messages", tokens)
    unknown = await console.get(f"/console/api/apps/{chat.id}/statistics/daily-bananas", tokens)

    for reply in (non_uuid, unknown):
        assert reply.status == 404
        assert reply.content_type == HTML_TYPE
        assert reply.text.startswith("<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>")
        assert reply.headers["X-Version"] == "1.15.0"


async def test_unknown_path_before_auth(console: Console) -> None:
    reply = await console.get("/console/api/no-such-thing")
    assert reply.status == 404
    assert reply.content_type == HTML_TYPE


async def test_timezone_update(console: Console) -> None:
    tokens = console.sim.issue_session()
    headers = session_headers(tokens)
    changed = await console.request("POST", "/console/api/account/timezone", headers=headers, json_body={"timezone": "Asia/Tokyo"})
    invalid = await console.request("POST", "/console/api/account/timezone", headers=headers, json_body={"timezone": "Mars/Olympus"})

    assert changed.body["timezone"] == "Asia/Tokyo"
    assert console.sim.admin.timezone == "Asia/Tokyo"
    assert invalid.status == 400
    assert invalid.body["message"].startswith(
        "1 validation error for AccountTimezonePayload\ntimezone\n  Value error, Mars/Olympus is not a valid timezone."
    )


async def test_request_log(console: Console) -> None:
    tokens = console.sim.issue_session()
    await console.get("/console/api/account/profile", tokens, mode="bearer")
    await console.get("/console/api/account/profile")
    entries = console.sim.request_log[-2:]

    assert [(entry.method, entry.path, entry.status, entry.auth_kind) for entry in entries] == [
        ("GET", "/console/api/account/profile", 200, "bearer"),
        ("GET", "/console/api/account/profile", 401, "none"),
    ]
    assert console.sim.count_requests(path="/console/api/account/profile") == 2


async def test_wrong_mode_stats_404(console: Console) -> None:
    chat = console.sim.app_of_mode(AppMode.CHAT)
    reply = await console.stats(chat.id, "average-response-time", console.sim.issue_session())
    assert reply.status == 404
    assert reply.body["message"].startswith("App mode is not in the supported list: {'completion'}.")


async def test_mode_checked_before_params(console: Console) -> None:
    chat = console.sim.app_of_mode(AppMode.CHAT)
    reply = await console.stats(chat.id, "average-response-time", console.sim.issue_session(), {"start": "bad"})
    assert reply.status == 404


async def test_bad_start_400(console: Console) -> None:
    chat = console.sim.app_of_mode(AppMode.CHAT)
    reply = await console.stats(chat.id, "daily-messages", console.sim.issue_session(), {"start": "2026-12-01"})
    assert reply.status == 400
    assert reply.body == {
        "code": "bad_request",
        "message": "Invalid start time format: time data '2026-12-01' does not match format '%Y-%m-%d %H:%M'",
        "status": 400,
    }


async def test_request_log_bounded() -> None:
    sim = DifySimulator(request_log_limit=10)
    async with serving(sim) as console:
        for _ in range(25):
            await console.get("/console/api/setup")
    assert len(sim.request_log) <= 10
    assert sim.request_log[-1].path == "/console/api/setup"


async def test_handler_failure_500(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr("otel_dify.simulator.views.account_profile", broken)
    reply = await console.get("/console/api/account/profile", console.sim.issue_session())
    assert reply.status == 500
    assert reply.body["status"] == 500
    assert reply.headers["X-Version"] == "1.15.0"


async def test_date_header_follows_clock(console: Console) -> None:
    first = await console.get("/console/api/setup")
    console.sim.clock.advance(3600)
    later = await console.get("/console/api/setup")
    assert first.headers["Date"] == "Fri, 04 Dec 2026 19:30:00 GMT"
    assert later.headers["Date"] == "Fri, 04 Dec 2026 20:30:00 GMT"
