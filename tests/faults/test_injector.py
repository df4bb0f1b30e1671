"""The simulator's fault rules and actions, seen by a plain HTTP client."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from otel_dify.simulator import DifySimulator
from otel_dify.simulator.auth import CSRF_FAILURE
from otel_dify.simulator.faults import (
    DROPPED_STATUS,
    Fault,
    FaultInjector,
    before,
    csrf_rejection,
    delay,
    drop_connection,
    drop_field,
    drop_row_field,
    error_status,
    html_page,
    login_lockout,
    logout_latest_session,
    revoke_access_tokens,
    rewrite_json,
    run_switchable_simulator,
    set_row_field,
    truncated_json,
)
from tests.simulator.support import Console, serving

SETUP = "/console/api/setup"
PROFILE = "/console/api/account/profile"
REFRESH = "/console/api/refresh-token"


def new_simulator(seed: int = 191) -> DifySimulator:
    return DifySimulator(profile="1.15", seed=seed, faults=FaultInjector(seed))


def token_costs_path(simulator: DifySimulator, app_mode: str = "chat") -> str:
    return f"/console/api/apps/{simulator.app_of_mode(app_mode).id}/statistics/token-costs"


async def statuses(console: Console, path: str, times: int) -> list[int]:
    return [(await console.get(path)).status for _ in range(times)]


async def refresh(console: Console, refresh_token: str | None) -> int:
    reply = await console.request("POST", REFRESH, headers={"Cookie": f"refresh_token={refresh_token}"})
    return reply.status


async def test_skip_then_count():
    simulator = new_simulator()
    async with serving(simulator) as console:
        fault = simulator.faults.add(error_status(503), path=SETUP, skip=1, count=2)
        seen = await statuses(console, SETUP, 5)

    assert seen == [200, 503, 503, 200, 200]
    assert fault.matched == 5
    assert fault.applied == 2
    assert fault.spent


async def test_probability_repeats_with_seed():
    runs = []
    for _ in range(2):
        simulator = new_simulator()
        async with serving(simulator) as console:
            simulator.faults.add(error_status(500), path=SETUP, probability=0.5, seed=5)
            runs.append(await statuses(console, SETUP, 30))

    first, second = runs
    assert first == second
    assert 500 in first
    assert 200 in first


async def test_method_and_app_filters():
    simulator = new_simulator()
    chat_costs = token_costs_path(simulator, "chat")
    completion_costs = token_costs_path(simulator, "completion")
    tokens = simulator.issue_session()
    async with serving(simulator) as console:
        simulator.faults.add(error_status(503), app_id=simulator.app_of_mode("chat").id)
        simulator.faults.add(error_status(502), path=SETUP, method="POST")
        chat = await console.get(chat_costs, tokens)
        completion = await console.get(completion_costs, tokens)
        setup = await console.get(SETUP)

    assert chat.status == 503
    assert completion.status == 200
    assert setup.status == 200


async def test_stop_and_remove():
    simulator = new_simulator()
    async with serving(simulator) as console:
        stopped = simulator.faults.add(error_status(503), path=SETUP)
        stopped.stop()
        removed = simulator.faults.add(error_status(500), path=SETUP)
        simulator.faults.remove(removed)
        seen = await statuses(console, SETUP, 2)

    assert seen == [200, 200]
    assert stopped in simulator.faults.faults
    assert removed not in simulator.faults.faults


async def test_invalid_rule_rejected():
    injector = FaultInjector()

    with pytest.raises(ValueError, match="probability"):
        injector.add(error_status(), probability=1.5)
    with pytest.raises(ValueError, match="count"):
        injector.add(error_status(), count=-1)
    with pytest.raises(ValueError, match="skip"):
        injector.add(error_status(), skip=-2)


async def test_dropped_connection():
    simulator = new_simulator()
    async with serving(simulator) as console:
        simulator.faults.add(drop_connection(), path=SETUP, count=2)
        with pytest.raises(aiohttp.ClientConnectionError):
            await console.get(SETUP)
        after = await console.get(SETUP)

    assert [entry.status for entry in simulator.request_log][:2] == [DROPPED_STATUS, DROPPED_STATUS]
    assert after.status == 200


async def test_delay_ends_on_clear():
    simulator = new_simulator()
    async with serving(simulator) as console:
        held = simulator.faults.add(delay(60.0), path=SETUP)
        request = asyncio.create_task(console.get(SETUP))
        while held.applied == 0:
            await asyncio.sleep(0.01)
        waiting = not request.done()
        simulator.faults.clear()
        reply = await asyncio.wait_for(request, 5.0)

    assert waiting
    assert reply.status == 200


async def test_error_status_shapes():
    simulator = new_simulator()
    async with serving(simulator) as console:
        simulator.faults.add(error_status(502, html=True), path=SETUP, count=1)
        simulator.faults.add(error_status(503), path=SETUP, count=1)
        page = await console.get(SETUP)
        envelope = await console.get(SETUP)

    assert page.status == 502
    assert page.content_type.startswith("text/html")
    assert "502 Bad Gateway" in page.text
    assert page.headers["X-Version"] == "1.15.0"
    assert envelope.status == 503
    assert envelope.body == {"code": "unknown", "message": "Service Unavailable", "status": 503}


async def test_html_page_status():
    simulator = new_simulator()
    async with serving(simulator) as console:
        simulator.faults.add(html_page(404), path=SETUP, count=1)
        simulator.faults.add(html_page(200), path=SETUP, count=1)
        not_found = await console.get(SETUP)
        maintenance = await console.get(SETUP)

    assert not_found.status == 404
    assert not_found.content_type.startswith("text/html")
    assert "<title>404 Not Found</title>" in not_found.text
    assert maintenance.status == 200
    assert maintenance.content_type.startswith("text/html")
    assert "Maintenance" in maintenance.text


async def test_truncated_json_body():
    simulator = new_simulator()
    path = token_costs_path(simulator)
    tokens = simulator.issue_session()
    async with serving(simulator) as console:
        whole = await console.get(path, tokens)
        simulator.faults.add(truncated_json(), path=path)
        cut = await console.get(path, tokens)

    assert cut.status == 200
    assert cut.content_type.startswith("application/json")
    assert cut.text == whole.text[: len(whole.text.encode()) // 2]
    assert isinstance(cut.body, str)


async def test_rewrite_json_rows():
    simulator = new_simulator()
    path = token_costs_path(simulator)
    tokens = simulator.issue_session()
    async with serving(simulator) as console:
        # Rules that pass the request on nest, so skip lets each act on its own request.
        simulator.faults.add(rewrite_json(drop_row_field("date")), path=path, count=1)
        simulator.faults.add(rewrite_json(set_row_field("token_count", [1])), path=path, skip=1, count=1)
        simulator.faults.add(rewrite_json(drop_field("data")), path=path, skip=2, count=1)
        without_date = await console.get(path, tokens)
        listed = await console.get(path, tokens)
        without_data = await console.get(path, tokens)

    assert without_date.body["data"]
    assert all("date" not in row for row in without_date.body["data"])
    assert all(row["token_count"] == [1] for row in listed.body["data"])
    assert without_data.body == {}


async def test_csrf_and_lockout_bodies():
    simulator = new_simulator()
    tokens = simulator.issue_session()
    async with serving(simulator) as console:
        simulator.faults.add(csrf_rejection(), path=PROFILE)
        simulator.faults.add(login_lockout(), path="/console/api/login")
        rejected = await console.get(PROFILE, tokens)
        locked = await console.login()

    assert rejected.status == 401
    assert rejected.body["message"] == CSRF_FAILURE
    assert locked.status == 429
    assert locked.body["code"] == "email_code_login_limit"
    assert simulator.login_attempts() == 1


async def test_rules_nest_in_order():
    simulator = new_simulator()
    calls: list[str] = []
    async with serving(simulator) as console:
        counter = simulator.faults.add(before(lambda: calls.append("before")), path=SETUP)
        simulator.faults.add(error_status(503), path=SETUP, count=1)
        failed = await console.get(SETUP)
        passed = await console.get(SETUP)

    assert failed.status == 503
    assert passed.status == 200
    assert calls == ["before", "before"]
    assert counter.applied == 2


async def test_revoked_tokens_refresh():
    simulator = new_simulator()
    tokens = simulator.issue_session()
    async with serving(simulator) as console:
        revoke_access_tokens(simulator)
        rejected = await console.get(PROFILE, tokens)
        refreshed = await refresh(console, tokens.refresh_token)

    assert rejected.status == 401
    assert rejected.body["message"] == "Invalid token signature."
    assert refreshed == 200


async def test_logout_kills_latest_refresh_token():
    simulator = new_simulator()
    earlier = simulator.issue_session()
    latest = simulator.issue_session()
    async with serving(simulator) as console:
        logout_latest_session(simulator)
        latest_refresh = await refresh(console, latest.refresh_token)
        earlier_refresh = await refresh(console, earlier.refresh_token)

    assert latest_refresh == 401
    assert earlier_refresh == 200


async def test_listener_closes_and_reopens():
    simulator = new_simulator()
    async with run_switchable_simulator(simulator) as server:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.base_url + SETUP) as response:
                before_close = response.status
            port = server.port

            await server.close_listener()
            with pytest.raises(aiohttp.ClientConnectionError):
                async with http.get(server.base_url + SETUP):
                    pass
            await server.open_listener()
            async with http.get(server.base_url + SETUP) as response:
                after_open = response.status

    assert before_close == 200
    assert after_open == 200
    assert server.port == port


def test_no_injector_no_middleware():
    plain = DifySimulator(profile="1.15", seed=193).make_app()
    faulty = new_simulator(193).make_app()

    assert len(plain.middlewares) == 1
    assert len(faulty.middlewares) == 2
    assert isinstance(new_simulator().faults.add(error_status()), Fault)
