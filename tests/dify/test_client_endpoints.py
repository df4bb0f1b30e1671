"""Tests for DifyClient's typed endpoint calls: profile, workspace, app list and statistics."""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import pytest

from otel_dify.dify.client import DifyClient
from otel_dify.dify.errors import HTTPStatusError, InvalidResponseError, NotFoundError
from otel_dify.dify.models import App, Workspace
from tests.dify.fake_dify import WORKSPACE_ID, FakeDify, Scripted
from tests.dify.support import console_credentials
from tests.fixtures_loader import capture

StartFake = Callable[..., Awaitable[tuple[FakeDify, str]]]
MakeClient = Callable[..., DifyClient]

APPS = "/console/api/apps"
WORKSPACE = "/console/api/workspaces/current"
PROFILE = "/console/api/account/profile"
CHAT_APP_ID = "68167749-6ab4-41cf-8a4a-ac508633d245"
WORKFLOW_APP_ID = "b00662bb-7c42-4914-8671-17ba410b0001"


class ObserverLog:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None, str | None]] = []

    def __call__(self, endpoint: str, status: int | None, error_type: str | None) -> None:
        self.calls.append((endpoint, status, error_type))


def _app_item(index: int) -> dict[str, Any]:
    return {"id": f"00000000-0000-4000-8000-{index:012d}", "name": f"App {index}", "mode": "chat"}


def _page(items: list[dict[str, Any]], *, has_more: bool, page: int = 1) -> Scripted:
    return Scripted(status=200, body={"page": page, "limit": 100, "total": 999, "has_more": has_more, "data": items})


# Profile and workspace


async def test_profile_from_capture(fake_dify: StartFake, make_client: MakeClient) -> None:
    _, url = await fake_dify("1.15")

    profile = await make_client(url).get_profile()

    assert profile.account_id == "1016a55c-9ac9-4e68-ae09-e3d70e4d9ff1"
    assert profile.timezone == "America/New_York"


async def test_profile_without_timezone_invalid(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    body = dict(capture("03_account_profile")["response"]["body"], timezone=None)
    fake.script("GET", PROFILE, Scripted(status=200, body=body))

    with pytest.raises(InvalidResponseError) as caught:
        await make_client(url).get_profile()

    assert caught.value.endpoint == PROFILE
    assert "timezone" in caught.value.message


@pytest.mark.parametrize(
    ("profile", "method"), [("1.15", "POST"), ("1.10.0", "GET"), ("1.9.1", "GET"), ("0.9.1", "GET")]
)
async def test_workspace_method_by_version(
    fake_dify: StartFake, make_client: MakeClient, profile: str, method: str
) -> None:
    fake, url = await fake_dify(profile)

    workspace = await make_client(url).get_workspace()

    assert workspace == Workspace(id=WORKSPACE_ID, name="Ada Admin's Workspace")
    assert [r.method for r in fake.requests_to(WORKSPACE)] == [method]


async def test_workspace_405_falls_back_once(fake_dify: StartFake, make_client: MakeClient) -> None:
    # A cookie-session Dify without X-Version: POST is guessed, but 1.10.0 serves GET.
    fake, url = await fake_dify("1.10.0", version_header=None)
    client = make_client(url)

    await client.get_workspace()
    await client.get_workspace()

    assert [r.method for r in fake.requests_to(WORKSPACE)] == ["POST", "GET", "GET"]


async def test_workspace_post_sends_empty_json(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")

    await make_client(url).get_workspace()

    assert fake.requests_to(WORKSPACE)[0].json == {}


async def test_workspace_double_405_raises(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    not_allowed = Scripted(status=405, body={"code": "method_not_allowed", "message": "not allowed"})
    fake.script("POST", WORKSPACE, not_allowed)
    fake.script("GET", WORKSPACE, not_allowed)

    with pytest.raises(HTTPStatusError) as caught:
        await make_client(url).get_workspace()

    assert caught.value.status == 405
    assert len(fake.requests_to(WORKSPACE)) == 2


# App list


async def test_list_apps_from_capture(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")

    apps = await make_client(url).list_apps()

    assert len(apps) == 5
    assert App(id=CHAT_APP_ID, name="Support Bot (chat)", mode="chat") in apps
    assert fake.requests_to(APPS)[0].query == {"page": "1", "limit": "100"}


async def test_list_apps_follows_has_more(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15", apps=[_app_item(i) for i in range(250)])

    apps = await make_client(url).list_apps()

    assert len(apps) == 250
    assert [r.query["page"] for r in fake.requests_to(APPS)] == ["1", "2", "3"]


async def test_list_apps_stops_on_empty_page(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    fake.script("GET", APPS, _page([_app_item(1)], has_more=True), _page([], has_more=True, page=2))

    apps = await make_client(url).list_apps()

    assert [app.name for app in apps] == ["App 1"]
    assert len(fake.requests_to(APPS)) == 2


async def test_list_apps_stops_at_max_pages(
    fake_dify: StartFake, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = await fake_dify("1.15")
    fake.script("GET", APPS, *(_page([_app_item(i)], has_more=True, page=i + 1) for i in range(5)))
    caplog.set_level(logging.WARNING, logger="otel_dify.dify.client")

    apps = await make_client(url, max_pages=3).list_apps()

    assert len(apps) == 3
    assert len(fake.requests_to(APPS)) == 3
    warnings = [r for r in caplog.records if r.name == "otel_dify.dify.client" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].max_pages == 3


async def test_list_apps_no_warning_when_complete(
    fake_dify: StartFake, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    _, url = await fake_dify("1.15", apps=[_app_item(i) for i in range(200)])
    caplog.set_level(logging.WARNING, logger="otel_dify.dify.client")

    apps = await make_client(url, max_pages=2).list_apps()

    assert len(apps) == 200
    assert [r for r in caplog.records if r.name == "otel_dify.dify.client"] == []


async def test_list_apps_drops_shifted_duplicates(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    fake.script(
        "GET",
        APPS,
        _page([_app_item(1), _app_item(2)], has_more=True),
        _page([_app_item(2), _app_item(3)], has_more=False, page=2),
    )

    apps = await make_client(url).list_apps()

    assert [app.name for app in apps] == ["App 1", "App 2", "App 3"]


@pytest.mark.parametrize(
    "body",
    [
        {"page": 1, "has_more": False, "data": {"id": "x"}},
        {"page": 1, "data": []},
        {"page": 1, "has_more": False, "data": [{"id": "x", "name": "n"}]},
        ["not", "an", "object"],
    ],
)
async def test_list_apps_wrong_shape(fake_dify: StartFake, make_client: MakeClient, body: Any) -> None:
    fake, url = await fake_dify("1.15")
    fake.script("GET", APPS, Scripted(status=200, body=body))

    with pytest.raises(InvalidResponseError) as caught:
        await make_client(url).list_apps()

    assert caught.value.endpoint == APPS


# Statistics


async def test_app_statistic_rows(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")

    rows = await make_client(url).get_app_statistic(
        CHAT_APP_ID, "token-costs", start="2026-11-24 00:00", end="2026-12-04 23:59"
    )

    expected = capture("30_stats_token-costs_chat_range11d")["response"]["body"]["data"]
    request = fake.requests[-1]
    assert rows == expected
    assert request.path == f"/console/api/apps/{CHAT_APP_ID}/statistics/token-costs"
    assert request.query == {"start": "2026-11-24 00:00", "end": "2026-12-04 23:59"}


async def test_statistic_open_bounds_omitted(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")

    await make_client(url).get_app_statistic(CHAT_APP_ID, "daily-messages", start="2026-12-01 00:00", end=None)

    assert fake.requests[-1].query == {"start": "2026-12-01 00:00"}


async def test_workflow_statistic_rows(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")

    rows = await make_client(url).get_workflow_statistic(WORKFLOW_APP_ID, "token-costs", start=None, end=None)

    expected = capture("40_wfstats_token-costs_workflow_range11d")["response"]["body"]["data"]
    assert rows == expected
    assert fake.requests[-1].path == f"/console/api/apps/{WORKFLOW_APP_ID}/workflow/statistics/token-costs"
    assert fake.requests[-1].query == {}


@pytest.mark.parametrize("body", [{"data": {"date": "2026-12-01"}}, {"data": [1, 2]}, {"rows": []}, []])
async def test_statistic_wrong_shape(fake_dify: StartFake, make_client: MakeClient, body: Any) -> None:
    fake, url = await fake_dify("1.15")
    fake.script("GET", f"/console/api/apps/{CHAT_APP_ID}/statistics/daily-messages", Scripted(status=200, body=body))

    with pytest.raises(InvalidResponseError) as caught:
        await make_client(url).get_app_statistic(CHAT_APP_ID, "daily-messages", start=None, end=None)

    assert caught.value.app_id == CHAT_APP_ID
    assert caught.value.endpoint == "/console/api/apps/{app_id}/statistics/daily-messages"


async def test_statistic_html_404(fake_dify: StartFake, make_client: MakeClient) -> None:
    _, url = await fake_dify("1.15")

    with pytest.raises(NotFoundError) as caught:
        await make_client(url).get_app_statistic("not-a-uuid", "daily-messages", start=None, end=None)

    assert "HTML" in caught.value.message
    assert caught.value.app_id == "not-a-uuid"
    assert caught.value.status == 404


async def test_statistic_wrong_mode_404(fake_dify: StartFake, make_client: MakeClient) -> None:
    _, url = await fake_dify("1.15")

    with pytest.raises(NotFoundError) as caught:
        await make_client(url).get_app_statistic(CHAT_APP_ID, "average-response-time", start=None, end=None)

    assert caught.value.endpoint == "/console/api/apps/{app_id}/statistics/average-response-time"
    assert "app_not_found" in caught.value.message


async def test_statistic_unknown_app_404(fake_dify: StartFake, make_client: MakeClient) -> None:
    _, url = await fake_dify("1.15")

    with pytest.raises(NotFoundError) as caught:
        await make_client(url).get_app_statistic(
            "00000000-0000-4000-8000-000000000000", "daily-messages", start=None, end=None
        )

    assert caught.value.status == 404


@pytest.mark.parametrize("name", ["../apps", "Token-Costs", "", "daily messages"])
async def test_statistic_name_validated(fake_dify: StartFake, make_client: MakeClient, name: str) -> None:
    fake, url = await fake_dify("1.15")

    with pytest.raises(ValueError, match="statistic name"):
        await make_client(url).get_app_statistic(CHAT_APP_ID, name, start=None, end=None)

    assert fake.requests == []


async def test_observer_sees_endpoint_templates(
    fake_dify: StartFake, make_client: MakeClient, make_transport: Callable[..., Any]
) -> None:
    _, url = await fake_dify("1.15")
    observer = ObserverLog()
    client = make_client(url, transport=make_transport(observer=observer))

    await client.get_profile()
    await client.get_workspace()
    await client.list_apps()
    await client.get_app_statistic(CHAT_APP_ID, "token-costs", start=None, end=None)
    await client.get_workflow_statistic(WORKFLOW_APP_ID, "daily-conversations", start=None, end=None)

    assert observer.calls == [
        ("/console/api/setup", 200, None),
        ("/console/api/login", 200, None),
        (PROFILE, 200, None),
        (WORKSPACE, 200, None),
        (APPS, 200, None),
        ("/console/api/apps/{app_id}/statistics/token-costs", 200, None),
        ("/console/api/apps/{app_id}/workflow/statistics/daily-conversations", 200, None),
    ]


async def test_observer_counts_renewal_attempts(
    fake_dify: StartFake, make_client: MakeClient, make_transport: Callable[..., Any]
) -> None:
    fake, url = await fake_dify("1.15")
    observer = ObserverLog()
    client = make_client(url, transport=make_transport(observer=observer))
    await client.login()
    fake.expire_access_tokens()
    observer.calls.clear()

    await client.get_profile()

    assert observer.calls == [
        (PROFILE, 401, "authentication"),
        ("/console/api/refresh-token", 200, None),
        (PROFILE, 200, None),
    ]


async def test_base_url_trailing_slash(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")

    await make_client(url + "/").get_profile()

    assert len(fake.requests_to(PROFILE)) == 1


def test_client_rejects_zero_max_pages(make_transport: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match="max_pages"):
        DifyClient("http://127.0.0.1:1", console_credentials(), make_transport(), max_pages=0)
