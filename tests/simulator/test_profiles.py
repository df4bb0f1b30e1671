"""Behaviour per version profile: login shape, methods, legacy parameter handling."""

from __future__ import annotations

import jwt
import pytest

from otel_dify.dify.models import AppMode, LoginGeneration
from otel_dify.simulator import PROFILES, DifySimulator, get_profile
from tests.simulator.support import serving, session_headers, set_cookie_values

PROFILE_PATH = "/console/api/account/profile"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_get_profile_by_version() -> None:
    assert get_profile("1.15.0") is PROFILES["1.15"]


def test_get_profile_unknown() -> None:
    with pytest.raises(ValueError, match="unknown Dify version profile"):
        get_profile("2.0")


@pytest.mark.parametrize(
    ("name", "version"), [("0.9.1", "0.9.1"), ("1.9.1", "1.9.1"), ("1.9.2", "1.9.2"), ("1.15", "1.15.0")]
)
async def test_x_version_header(name: str, version: str) -> None:
    async with serving(DifySimulator(profile=name)) as console:
        setup = await console.get("/console/api/setup")
        missing = await console.get("/console/api/nothing-here")
    assert setup.headers["X-Version"] == version
    assert missing.headers["X-Version"] == version


async def test_login_body_token_0_9_1() -> None:
    async with serving(DifySimulator(profile="0.9.1")) as console:
        reply = await console.login()
        token = reply.body["data"]
        profile = await console.get(PROFILE_PATH, headers=bearer(token))
        refresh = await console.request("POST", "/console/api/refresh-token", json_body={"refresh_token": "x"})
        claims = jwt.decode(token, options={"verify_signature": False})

    assert reply.status == 200
    assert reply.body["result"] == "success"
    assert isinstance(token, str)
    assert set_cookie_values(reply) == {}
    assert claims["exp"] - console.sim.clock.timestamp() == 30 * 86400
    assert profile.status == 200
    assert refresh.status == 404
    assert refresh.content_type == "text/html; charset=utf-8"


async def test_query_token_0_9_1() -> None:
    async with serving(DifySimulator(profile="0.9.1")) as console:
        token = console.sim.issue_session().access_token
        reply = await console.get(PROFILE_PATH, params={"_token": token})
    assert reply.status == 200


async def test_login_token_pair_1_9_1() -> None:
    async with serving(DifySimulator(profile="1.9.1")) as console:
        reply = await console.login()
        pair = reply.body["data"]
        profile = await console.get(PROFILE_PATH, headers=bearer(pair["access_token"]))
        refreshed = await console.request(
            "POST", "/console/api/refresh-token", json_body={"refresh_token": pair["refresh_token"]}
        )
        reused = await console.request(
            "POST", "/console/api/refresh-token", json_body={"refresh_token": pair["refresh_token"]}
        )

    assert set(pair) == {"access_token", "refresh_token"}
    assert set_cookie_values(reply) == {}
    assert profile.status == 200
    assert refreshed.status == 200
    assert set(refreshed.body["data"]) == {"access_token", "refresh_token"}
    assert reused.status == 401
    assert reused.body == {"result": "fail", "data": "Invalid refresh token"}


async def test_bad_header_format_1_9_1() -> None:
    async with serving(DifySimulator(profile="1.9.1")) as console:
        reply = await console.get(PROFILE_PATH, headers={"Authorization": "Token abc"})
    assert reply.status == 401
    assert reply.body["message"] == "Invalid Authorization header format. Expected 'Bearer <api-key>' format."


async def test_cookies_ignored_1_9_1() -> None:
    sim = DifySimulator(profile="1.9.1")
    async with serving(sim) as console:
        token = sim.issue_session().access_token
        reply = await console.get(PROFILE_PATH, headers={"Cookie": f"access_token={token}"})
    assert reply.status == 401
    assert reply.body["message"] == "Invalid Authorization token."


async def test_login_cookies_plain_password_1_9_2() -> None:
    async with serving(DifySimulator(profile="1.9.2")) as console:
        reply = await console.login()
    assert reply.status == 200
    assert reply.body == {"result": "success"}
    assert list(set_cookie_values(reply)) == ["access_token", "refresh_token", "csrf_token"]


async def test_csrf_required_1_9_2() -> None:
    sim = DifySimulator(profile="1.9.2")
    async with serving(sim) as console:
        reply = await console.get(PROFILE_PATH, sim.issue_session(), mode="bearer-nocsrf")
    assert reply.status == 401
    assert reply.body["message"] == "CSRF token is missing or invalid."


async def test_admin_key_ignored_1_9_2() -> None:
    sim = DifySimulator(profile="1.9.2", admin_api_key="k" * 40)
    async with serving(sim) as console:
        workspace = sim.dataset.current_workspace(sim.admin.id)
        reply = await console.get("/console/api/apps", headers={**bearer("k" * 40), "X-WORKSPACE-ID": workspace.id})
    assert reply.status == 401


@pytest.mark.parametrize(
    ("name", "generation"),
    [
        ("0.9.1", LoginGeneration.BODY_TOKEN),
        ("1.9.1", LoginGeneration.TOKEN_PAIR),
        ("1.9.2", LoginGeneration.COOKIE_CSRF),
        ("1.15", LoginGeneration.COOKIE_CSRF),
    ],
)
def test_login_generation(name: str, generation: LoginGeneration) -> None:
    assert get_profile(name).login_generation is generation


@pytest.mark.parametrize(("name", "method", "other"), [("1.9.1", "GET", "POST"), ("1.9.2", "POST", "GET")])
async def test_logout_method(name: str, method: str, other: str) -> None:
    sim = DifySimulator(profile=name)
    async with serving(sim) as console:
        tokens = sim.issue_session()
        headers = bearer(tokens.access_token)
        right = await console.request(method, "/console/api/logout", headers=headers)
        wrong = await console.request(other, "/console/api/logout", headers=headers)
    assert right.status == 200
    assert right.body == {"result": "success"}
    assert wrong.status == 405
    assert wrong.content_type == "text/html; charset=utf-8"


@pytest.mark.parametrize(("name", "method", "other"), [("1.9.2", "GET", "POST"), ("1.15", "POST", "GET")])
async def test_workspace_current_method(name: str, method: str, other: str) -> None:
    sim = DifySimulator(profile=name)
    async with serving(sim) as console:
        tokens = sim.issue_session()
        right = await console.request(method, "/console/api/workspaces/current", headers=session_headers(tokens))
        wrong = await console.request(other, "/console/api/workspaces/current", headers=session_headers(tokens))
    assert right.status == 200
    assert right.body["role"] == "owner"
    assert wrong.status == 405


async def test_empty_start_rejected_1_9_2() -> None:
    sim = DifySimulator(profile="1.9.2")
    async with serving(sim) as console:
        chat = sim.app_of_mode(AppMode.CHAT)
        reply = await console.stats(chat.id, "daily-messages", sim.issue_session(), {"start": ""})
    assert reply.status == 400
    assert reply.body["code"] == "invalid_param"
    assert reply.body["params"] == "start"


async def test_start_after_end_allowed_1_9_2() -> None:
    sim = DifySimulator(profile="1.9.2")
    async with serving(sim) as console:
        chat = sim.app_of_mode(AppMode.CHAT)
        params = {"start": "2026-12-04 10:00", "end": "2026-12-01 10:00"}
        reply = await console.stats(chat.id, "daily-messages", sim.issue_session(), params)
    assert reply.status == 200
    assert reply.body == {"data": []}


async def test_debugger_counted_0_9_1() -> None:
    sim = DifySimulator(profile="0.9.1")
    chat = sim.app_of_mode(AppMode.CHAT)
    with_debugger = sum(1 for message in sim.dataset.records[chat.id].messages if message.created_at <= sim.clock.now())
    async with serving(sim) as console:
        reply = await console.get(
            f"/console/api/apps/{chat.id}/statistics/daily-messages", headers=bearer(sim.issue_session().access_token)
        )
    assert sum(row["message_count"] for row in reply.body["data"]) == with_debugger
    assert sim.ground_truth(chat.id).messages == with_debugger


async def test_legacy_limit_error_1_9_1() -> None:
    sim = DifySimulator(profile="1.9.1")
    async with serving(sim) as console:
        reply = await console.get(
            "/console/api/apps", headers=bearer(sim.issue_session().access_token), params={"limit": "101"}
        )
    assert reply.status == 400
    assert reply.body == {
        "code": "invalid_param",
        "message": "Invalid argument: 101. argument must be within the range 1 - 100",
        "params": "limit",
    }
