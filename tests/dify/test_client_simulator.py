"""DifyClient against the built-in Dify simulator, in every version profile."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest
from pydantic import SecretStr

from otel_dify.dify.auth import AdminKeyCredentials, ConsoleCredentials
from otel_dify.dify.client import DifyClient
from otel_dify.dify.errors import AuthBackoffError, AuthenticationError, LoginLockedError, NotFoundError
from otel_dify.dify.models import AppMode, LoginGeneration
from otel_dify.dify.transport import Transport
from otel_dify.simulator import DifySimulator, SimClock, run_simulator
from tests.dify.support import FakeClock

ALL_PROFILES = ["0.9.1", "1.9.1", "1.9.2", "1.15"]
REFRESHABLE_PROFILES = ["1.9.1", "1.9.2", "1.15"]
COOKIE_PROFILES = ["1.9.2", "1.15"]
ADMIN_KEY = "sim-admin-key-0123456789abcdef0123456789abcdef"

LOGIN = "/console/api/login"
REFRESH = "/console/api/refresh-token"

MakeClient = Callable[..., DifyClient]


def _simulator(profile: str, **options: object) -> DifySimulator:
    # The simulator clock follows this host's time, so the JWT exp it issues
    # agrees with the Date header aiohttp sends.
    return DifySimulator(profile=profile, clock=SimClock.system(), seed=11, secret_key="k" * 48, **options)  # type: ignore[arg-type]


def _credentials(sim: DifySimulator, password: str | None = None) -> ConsoleCredentials:
    return ConsoleCredentials(email=sim.admin.email, password=SecretStr(password or sim.admin_password))


@asynccontextmanager
async def _serving(sim: DifySimulator) -> AsyncIterator[str]:
    async with run_simulator(sim) as base_url:
        yield base_url


async def _post_wrong_logins(base_url: str, sim: DifySimulator, count: int) -> None:
    """Send ``count`` logins with a wrong password, encoded as the profile expects."""
    password = "not the password"
    if sim.profile.base64_password:
        password = base64.b64encode(password.encode()).decode()
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            async with http.post(base_url + LOGIN, json={"email": sim.admin.email, "password": password}) as reply:
                assert reply.status == 401


async def _logout_elsewhere(base_url: str, sim: DifySimulator, access_token: str) -> None:
    """Log out another session of the same account, as a human in a browser would."""
    async with aiohttp.ClientSession() as http:
        method = sim.profile.logout_method
        async with http.request(
            method, base_url + "/console/api/logout", headers={"Authorization": f"Bearer {access_token}"}
        ) as reply:
            assert reply.status == 200


@pytest.mark.parametrize("profile", ALL_PROFILES)
async def test_sim_reads_workspace(profile: str, make_client: MakeClient) -> None:
    sim = _simulator(profile)
    workspace_id = sim.dataset.current_workspace(sim.admin.id).id
    chat = sim.app_of_mode(AppMode.CHAT)
    workflow = sim.app_of_mode(AppMode.WORKFLOW)

    async with _serving(sim) as base_url:
        client = make_client(base_url, _credentials(sim))
        await client.login()
        profile_info = await client.get_profile()
        workspace = await client.get_workspace()
        apps = await client.list_apps()
        messages = await client.get_app_statistic(chat.id, "daily-messages", start=None, end=None)
        runs = await client.get_workflow_statistic(workflow.id, "daily-conversations", start=None, end=None)

    assert client.generation is sim.profile.login_generation
    assert client.server_version == sim.profile.version
    assert sim.login_attempts() == 1
    assert profile_info.account_id == sim.admin.id
    assert profile_info.timezone == sim.admin.timezone
    assert workspace.id == workspace_id
    assert {app.id for app in apps} == {app.id for app in sim.apps(workspace_id)}
    assert sum(row["message_count"] for row in messages) == sim.ground_truth(chat.id).messages
    assert sum(int(row["runs"]) for row in runs) == sim.ground_truth(workflow.id).workflow_runs
    assert [entry for entry in sim.request_log if entry.status in (401, 405)] == []


@pytest.mark.parametrize("profile", COOKIE_PROFILES)
async def test_sim_host_prefixed_cookies(profile: str, make_client: MakeClient) -> None:
    sim = _simulator(profile, secure_cookies=True)

    async with _serving(sim) as base_url:
        client = make_client(base_url, _credentials(sim))
        apps = await client.list_apps()

    assert base_url.startswith("http://")
    assert len(apps) == len(sim.apps(sim.dataset.current_workspace(sim.admin.id).id))
    assert {entry.auth_kind for entry in sim.request_log if entry.path == "/console/api/apps"} == {"cookie"}


@pytest.mark.parametrize("profile", REFRESHABLE_PROFILES)
async def test_sim_refresh_before_expiry(profile: str, make_client: MakeClient, clock: FakeClock) -> None:
    sim = _simulator(profile)

    async with _serving(sim) as base_url:
        client = make_client(base_url, _credentials(sim))
        await client.get_profile()
        clock.advance(3600 - 59)
        await client.get_profile()

    assert sim.count_requests(method="POST", path=REFRESH) == 1
    assert sim.login_attempts() == 1
    assert [entry.status for entry in sim.request_log if entry.path == "/console/api/account/profile"] == [200, 200]


@pytest.mark.parametrize("profile", ALL_PROFILES)
async def test_sim_server_expiry_recovers(profile: str, make_client: MakeClient) -> None:
    sim = _simulator(profile)
    lifetime_s = 31 * 86400 if profile == "0.9.1" else 3601

    async with _serving(sim) as base_url:
        client = make_client(base_url, _credentials(sim))
        await client.login()
        sim.clock.advance(lifetime_s)
        await client.get_profile()

    profile_statuses = [entry.status for entry in sim.request_log if entry.path == "/console/api/account/profile"]
    assert profile_statuses == [401, 200]
    if profile == "0.9.1":
        assert sim.login_attempts() == 2
    else:
        assert sim.count_requests(method="POST", path=REFRESH) == 1
        assert sim.login_attempts() == 1


@pytest.mark.parametrize("profile", REFRESHABLE_PROFILES)
async def test_sim_logout_elsewhere_forces_login(profile: str, make_client: MakeClient, clock: FakeClock) -> None:
    sim = _simulator(profile)

    async with _serving(sim) as base_url:
        client = make_client(base_url, _credentials(sim))
        await client.login()
        human = sim.issue_session()

        # The refresh makes the client's refresh token the account's latest,
        # so the human's logout deletes the client's token, not their own.
        clock.advance(3600)
        await client.get_profile()
        await _logout_elsewhere(base_url, sim, human.access_token)

        sim.clock.advance(3601)
        clock.advance(1)
        await client.get_profile()

    refresh_statuses = [entry.status for entry in sim.request_log if entry.path == REFRESH]
    assert refresh_statuses == [200, 401]
    assert sim.login_attempts() == 2


@pytest.mark.parametrize("profile", ALL_PROFILES)
async def test_sim_wrong_password_backs_off(profile: str, make_client: MakeClient, clock: FakeClock) -> None:
    sim = _simulator(profile)

    async with _serving(sim) as base_url:
        client = make_client(base_url, _credentials(sim, password="not the password"))
        with pytest.raises(AuthenticationError) as caught:
            await client.login()
        requests_after_failure = len(sim.request_log)

        with pytest.raises(AuthBackoffError):
            await client.get_profile()
        clock.advance(899)
        with pytest.raises(AuthBackoffError):
            await client.login()
        requests_during_backoff = len(sim.request_log) - requests_after_failure

        clock.advance(1)
        with pytest.raises(AuthenticationError):
            await client.login()

    assert caught.value.status == 401
    assert requests_during_backoff == 0
    assert sim.login_attempts() == 2


@pytest.mark.parametrize("profile", ["0.9.1", "1.15"])
async def test_sim_locked_account(profile: str, make_client: MakeClient) -> None:
    sim = _simulator(profile)

    async with _serving(sim) as base_url:
        await _post_wrong_logins(base_url, sim, 6)
        client = make_client(base_url, _credentials(sim))
        with pytest.raises(LoginLockedError) as caught:
            await client.login()
        with pytest.raises(AuthBackoffError):
            await client.login()

    assert caught.value.status == 429
    assert sim.login_attempts() == 7


async def test_sim_admin_key(make_client: MakeClient) -> None:
    sim = _simulator("1.15", admin_api_key=ADMIN_KEY)
    workspace_id = sim.dataset.current_workspace(sim.admin.id).id
    chat = sim.app_of_mode(AppMode.CHAT)

    async with _serving(sim) as base_url:
        client = make_client(base_url, AdminKeyCredentials(api_key=SecretStr(ADMIN_KEY), workspace_id=workspace_id))
        apps = await client.list_apps()
        workspace = await client.get_workspace()
        rows = await client.get_app_statistic(chat.id, "token-costs", start=None, end=None)

        stranger = make_client(
            base_url,
            AdminKeyCredentials(api_key=SecretStr(ADMIN_KEY), workspace_id="00000000-0000-4000-8000-000000000000"),
        )
        with pytest.raises(AuthenticationError) as caught:
            await stranger.list_apps()

    assert client.generation is LoginGeneration.ADMIN_KEY
    assert workspace.id == workspace_id
    assert len(apps) == len(sim.apps(workspace_id))
    assert sum(row["token_count"] for row in rows) == sim.ground_truth(chat.id).tokens
    assert sim.login_attempts() == 0
    assert caught.value.status == 401


@pytest.mark.parametrize("profile", ALL_PROFILES)
async def test_sim_malformed_app_id(profile: str, make_client: MakeClient) -> None:
    sim = _simulator(profile)

    async with _serving(sim) as base_url:
        client = make_client(base_url, _credentials(sim))
        with pytest.raises(NotFoundError) as caught:
            await client.get_app_statistic("not-a-uuid", "daily-messages", start=None, end=None)

    assert caught.value.app_id == "not-a-uuid"
    assert "HTML" in caught.value.message


async def test_sim_concurrent_401_one_refresh(make_transport: Callable[..., Transport], clock: FakeClock) -> None:
    sim = _simulator("1.15")
    transport = make_transport(max_concurrency=2)

    async with _serving(sim) as base_url:
        client = DifyClient(base_url, _credentials(sim), transport, clock=clock)
        apps = await client.list_apps()
        sim.clock.advance(3601)
        results = await asyncio.gather(
            *(client.get_app_statistic(app.id, "daily-messages", start=None, end=None) for app in apps)
        )

    assert len(results) == len(apps)
    assert len(apps) > 2
    assert sim.count_requests(method="POST", path=REFRESH) == 1
    assert sim.login_attempts() == 1
