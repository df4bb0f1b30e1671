"""Each captured Dify 1.15.0 request, replayed against the simulator, gets a response of the same shape."""

from __future__ import annotations

import json

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from otel_dify.simulator import DifySimulator
from tests.simulator.conftest import ADMIN_KEY
from tests.simulator.replay import (
    add_probe_traffic,
    build_request,
    capture_names,
    id_map,
    load_capture,
    response_mismatches,
    timezone_for,
)
from tests.simulator.support import Reply, serving

REQUIRED_PREFIXES = (
    "02_login", "03_account_profile", "10_login", "11_refresh_token", "12_refresh_token_reuse_old",
    "13_refresh_token_missing", "15_profile_", "20_apps_list_default", "20_apps_list_l101",
    "20_apps_list_p4_l2_beyond", "21_app_detail_chat", "30_stats_", "33_", "34_", "40_wfstats_",
    "80_err_", "81_err_", "85_admin_key_", "96_", "98_", "99_",
)


def test_fixtures_cover_required_captures() -> None:
    names = capture_names()
    for prefix in REQUIRED_PREFIXES:
        assert any(name.startswith(prefix) for name in names), prefix


@pytest.mark.parametrize("name", capture_names())
async def test_capture_replay(name: str) -> None:
    capture = load_capture(name)
    simulator = DifySimulator(profile="1.15", seed=11, admin_api_key=ADMIN_KEY, secret_key="k" * 48)
    simulator.admin.timezone = timezone_for(name)
    add_probe_traffic(simulator)

    async with serving(simulator) as console:
        plan = build_request(simulator, name, capture, ADMIN_KEY)
        reply = await console.request(
            plan.method, plan.path, headers=plan.headers, params=plan.params, json_body=plan.json_body
        )

    assert response_mismatches(capture, reply, id_map(simulator)) == []


def _reply(status: int, body: object, headers: dict[str, str] | None = None) -> Reply:
    raw = CIMultiDict({"Content-Type": "application/json", "X-Version": "1.15.0", **(headers or {})})
    return Reply(status, CIMultiDictProxy(raw), body, json.dumps(body))


def test_replay_detects_string_token_count() -> None:
    capture = load_capture("30_stats_token-costs_chat_range11d")
    row = {"date": "2026-12-01", "token_count": "10", "total_price": "0.0000100", "currency": "USD"}
    problems = response_mismatches(capture, _reply(200, {"data": [row]}), {})
    assert problems == ["body.data[0].token_count: type str, expected ['int']"]


def test_replay_detects_missing_key() -> None:
    capture = load_capture("03_account_profile")
    body = dict(capture["response"]["body"])
    del body["timezone"]
    problems = response_mismatches(capture, _reply(200, body), {})
    assert problems == ["body: keys missing ['timezone'], extra []"]


def test_replay_detects_empty_list() -> None:
    capture = load_capture("30_stats_daily-messages_chat_range11d")
    problems = response_mismatches(capture, _reply(200, {"data": []}), {})
    assert problems == ["body.data: empty list, the capture has items"]


def test_replay_detects_other_message() -> None:
    capture = load_capture("80_err_no_auth")
    body = {"code": "unauthorized", "message": "Invalid token.", "status": 401}
    reply = _reply(401, body, {"WWW-Authenticate": 'Bearer realm="api"'})
    problems = response_mismatches(capture, reply, {})
    assert problems == ["message 'Invalid token.', expected 'Invalid Authorization token.'"]


def test_replay_detects_missing_cookies() -> None:
    capture = load_capture("10_login")
    problems = response_mismatches(capture, _reply(200, {"result": "success"}), {})
    assert problems == ["Set-Cookie count 0, expected 3"]
