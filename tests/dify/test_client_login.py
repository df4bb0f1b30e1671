"""Tests for DifyClient authentication: every login generation, refresh, back-off and the admin key."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Awaitable, Callable

import pytest

from otel_dify.dify.client import DifyClient
from otel_dify.dify.errors import (
    AuthBackoffError,
    AuthenticationError,
    HTTPStatusError,
    LoginLockedError,
)
from otel_dify.dify.models import LoginGeneration
from tests.dify.fake_dify import PASSWORD, WORKSPACE_ID, FakeDify, Scripted, scripted_from_capture
from tests.dify.support import FakeClock, admin_credentials, console_credentials

StartFake = Callable[..., Awaitable[tuple[FakeDify, str]]]
MakeClient = Callable[..., DifyClient]

PROFILE = "/console/api/account/profile"
LOGIN = "/console/api/login"
REFRESH = "/console/api/refresh-token"
ADMIN_KEY = "admin-key-0123456789abcdef0123456789abcdef01"


def _sent_password(fake: FakeDify, index: int) -> str:
    return fake.login_attempts[index].json["password"]


# Login generations


async def test_login_cookie_generation(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url)

    await client.login()

    assert client.generation is LoginGeneration.COOKIE_CSRF
    assert client.server_version == "1.15.0"
    assert len(fake.login_attempts) == 1
    assert base64.b64decode(_sent_password(fake, 0)).decode() == PASSWORD
    assert fake.login_attempts[0].json["remember_me"] is True


async def test_login_token_pair(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.9.1")
    client = make_client(url)

    await client.get_profile()

    profile_request = fake.requests_to(PROFILE)[0]
    assert client.generation is LoginGeneration.TOKEN_PAIR
    assert _sent_password(fake, 0) == PASSWORD
    assert profile_request.headers["Authorization"].removeprefix("Bearer ") in fake.valid_access
    assert "Cookie" not in profile_request.headers
    assert "X-CSRF-Token" not in profile_request.headers


async def test_login_body_token(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("0.9.1")
    client = make_client(url)

    await client.get_profile()

    profile_request = fake.requests_to(PROFILE)[0]
    assert client.generation is LoginGeneration.BODY_TOKEN
    assert _sent_password(fake, 0) == PASSWORD
    assert profile_request.headers["Authorization"].removeprefix("Bearer ") in fake.valid_access


async def test_login_is_noop_when_fresh(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url)

    await client.login()
    await client.login()
    await client.get_profile()

    assert len(fake.login_attempts) == 1


async def test_close_forgets_without_logout(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url)
    await client.login()

    await client.close()
    await client.get_profile()

    assert len(fake.login_attempts) == 2
    assert fake.requests_to("/console/api/logout") == []


# Cookies and CSRF


async def test_csrf_header_equals_cookie_on_get(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url)

    profile = await client.get_profile()

    request = fake.requests_to(PROFILE)[0]
    assert request.method == "GET"
    assert request.headers["X-CSRF-Token"] == request.cookies["csrf_token"]
    assert request.cookies["access_token"] in fake.valid_access
    assert "Authorization" not in request.headers
    assert profile.timezone == "America/New_York"


async def test_host_prefixed_secure_cookies_over_http(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15", cookie_prefix="__Host-", secure_cookies=True)
    client = make_client(url)

    await client.get_profile()

    request = fake.requests_to(PROFILE)[0]
    assert url.startswith("http://")
    assert set(request.cookies) == {"__Host-access_token", "__Host-refresh_token", "__Host-csrf_token"}
    assert request.headers["X-CSRF-Token"] == request.cookies["__Host-csrf_token"]


# Refresh


async def test_refresh_before_expiry(fake_dify: StartFake, make_client: MakeClient, clock: FakeClock) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url)
    await client.login()

    clock.advance(3600 - 61)
    await client.get_profile()
    assert fake.requests_to(REFRESH) == []

    clock.advance(2)
    await client.get_profile()

    refreshes = fake.requests_to(REFRESH, "POST")
    assert len(refreshes) == 1
    assert list(refreshes[0].cookies) == ["refresh_token"]
    assert "X-CSRF-Token" not in refreshes[0].headers
    assert refreshes[0].json is None
    assert len(fake.login_attempts) == 1

    # The refresh token rotated: the profile request after the refresh carries the new one.
    first_profile, last_profile = fake.requests_to(PROFILE)[0], fake.requests_to(PROFILE)[-1]
    assert last_profile.cookies["refresh_token"] != first_profile.cookies["refresh_token"]
    assert last_profile.cookies["refresh_token"] in fake.valid_refresh


async def test_refresh_token_pair_before_expiry(
    fake_dify: StartFake, make_client: MakeClient, clock: FakeClock
) -> None:
    fake, url = await fake_dify("1.9.1")
    client = make_client(url)
    await client.get_profile()
    first_refresh_token = next(iter(fake.valid_refresh))

    clock.advance(3600)
    await client.get_profile()

    refreshes = fake.requests_to(REFRESH, "POST")
    assert len(refreshes) == 1
    assert refreshes[0].json == {"refresh_token": first_refresh_token}
    assert first_refresh_token not in fake.valid_refresh
    assert len(fake.login_attempts) == 1


async def test_refresh_uses_server_date(fake_dify: StartFake, make_client: MakeClient, clock: FakeClock) -> None:
    # The server's clock runs two hours ahead, so its JWT exp looks three hours away from here.
    fake, url = await fake_dify("1.9.1", server_clock_offset_s=7200)
    client = make_client(url)
    await client.get_profile()

    clock.advance(3600 - 58)
    await client.get_profile()

    assert len(fake.requests_to(REFRESH, "POST")) == 1


async def test_body_token_expiry_logs_in_again(
    fake_dify: StartFake, make_client: MakeClient, clock: FakeClock
) -> None:
    fake, url = await fake_dify("0.9.1")
    client = make_client(url)
    await client.get_profile()

    clock.advance(3600)
    await client.get_profile()

    assert fake.requests_to(REFRESH) == []
    assert len(fake.login_attempts) == 2


async def test_refresh_on_401(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url)
    await client.login()
    fake.expire_access_tokens()

    await client.get_profile()

    assert [(r.method, r.path) for r in fake.requests[-3:]] == [("GET", PROFILE), ("POST", REFRESH), ("GET", PROFILE)]
    assert len(fake.login_attempts) == 1


async def test_refresh_failure_logs_in_again(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url)
    await client.login()
    fake.expire_access_tokens()
    fake.revoke_refresh_tokens()

    await client.get_profile()

    assert [(r.method, r.path) for r in fake.requests[-4:]] == [
        ("GET", PROFILE),
        ("POST", REFRESH),
        ("POST", LOGIN),
        ("GET", PROFILE),
    ]
    assert len(fake.login_attempts) == 2


async def test_token_pair_refresh_failure_logs_in(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.9.1")
    client = make_client(url)
    await client.login()
    fake.expire_access_tokens()
    fake.revoke_refresh_tokens()

    await client.get_profile()

    assert len(fake.requests_to(REFRESH)) == 1
    assert len(fake.login_attempts) == 2


async def test_second_401_raises(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url)
    await client.login()
    rejection = scripted_from_capture("80_err_cookie_no_csrf_header")
    fake.script("GET", PROFILE, rejection, rejection)

    with pytest.raises(AuthenticationError) as caught:
        await client.get_profile()

    assert caught.value.status == 401
    assert caught.value.endpoint == PROFILE
    assert "CSRF token is missing or invalid" in caught.value.message
    assert [(r.method, r.path) for r in fake.requests[-3:]] == [("GET", PROFILE), ("POST", REFRESH), ("GET", PROFILE)]


async def test_concurrent_401_single_refresh(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url)
    await client.login()
    fake.expire_access_tokens()

    profiles = await asyncio.gather(*(client.get_profile() for _ in range(5)))

    assert len(profiles) == 5
    assert len(fake.requests_to(REFRESH)) == 1
    assert len(fake.login_attempts) == 1


# Password encoding


async def test_base64_chosen_by_version(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")

    await make_client(url).login()

    assert len(fake.login_attempts) == 1
    assert _sent_password(fake, 0) == base64.b64encode(PASSWORD.encode()).decode()


async def test_plain_chosen_by_version(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.10.0")

    await make_client(url).login()

    assert len(fake.login_attempts) == 1
    assert _sent_password(fake, 0) == PASSWORD


async def test_version_probe_precedes_login(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.10.0")

    await make_client(url).login()

    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/console/api/setup"), ("POST", LOGIN)]
    assert "Cookie" not in fake.requests[0].headers
    assert "Authorization" not in fake.requests[0].headers


async def test_no_probe_for_fixed_encoding(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")

    await make_client(url, console_credentials(encoding="base64")).login()

    assert fake.requests_to("/console/api/setup") == []


async def test_unknown_version_base64_works(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15", version_header=None)
    client = make_client(url)

    await client.login()

    assert client.server_version is None
    assert len(fake.login_attempts) == 1
    assert fake.failed_logins == 0


async def test_unknown_version_falls_back_to_plain(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.10.0", version_header=None)
    client = make_client(url)

    await client.login()

    assert len(fake.login_attempts) == 2
    assert _sent_password(fake, 0) == base64.b64encode(PASSWORD.encode()).decode()
    assert _sent_password(fake, 1) == PASSWORD

    # The encoding that worked is remembered: the next login costs no extra attempt.
    await client.close()
    await client.login()

    assert len(fake.login_attempts) == 3
    assert _sent_password(fake, 2) == PASSWORD


async def test_unknown_version_one_extra_attempt(
    fake_dify: StartFake, make_client: MakeClient, clock: FakeClock
) -> None:
    fake, url = await fake_dify("1.10.0", version_header=None)
    client = make_client(url, console_credentials(password="wrong password"))

    with pytest.raises(AuthenticationError):
        await client.login()
    assert len(fake.login_attempts) == 2

    clock.advance(900)
    with pytest.raises(AuthenticationError):
        await client.login()
    assert len(fake.login_attempts) == 3


async def test_fixed_plain_on_base64_server(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url, console_credentials(encoding="plain"))

    with pytest.raises(AuthenticationError) as caught:
        await client.login()

    assert len(fake.login_attempts) == 1
    assert "Invalid encrypted data" in caught.value.message
    assert "Base64" in caught.value.message


# Lock-out safety


async def test_wrong_password_backs_off(fake_dify: StartFake, make_client: MakeClient, clock: FakeClock) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url, console_credentials(password="wrong password"))

    with pytest.raises(AuthenticationError) as caught:
        await client.login()
    assert not isinstance(caught.value, AuthBackoffError)
    assert caught.value.status == 401
    requests_after_failure = len(fake.requests)

    with pytest.raises(AuthBackoffError) as backoff:
        await client.login()
    assert backoff.value.retry_at == clock.now + 900
    with pytest.raises(AuthBackoffError):
        await client.get_profile()
    clock.advance(899)
    with pytest.raises(AuthBackoffError):
        await client.login()
    assert len(fake.requests) == requests_after_failure

    clock.advance(1)
    with pytest.raises(AuthenticationError) as again:
        await client.login()
    assert not isinstance(again.value, AuthBackoffError)
    assert len(fake.login_attempts) == 2


async def test_failed_relogin_backs_off_without_requests(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url)
    await client.login()
    fake.expire_access_tokens()
    fake.revoke_refresh_tokens()
    fake.failed_logins = 6

    with pytest.raises(LoginLockedError):
        await client.get_profile()
    requests_after_failure = len(fake.requests)

    with pytest.raises(AuthBackoffError):
        await client.get_profile()
    assert len(fake.requests) == requests_after_failure


async def test_backoff_below_minimum_clamped(
    fake_dify: StartFake, make_client: MakeClient, clock: FakeClock
) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url, console_credentials(password="wrong password"), auth_backoff_s=5.0)

    with pytest.raises(AuthenticationError):
        await client.login()
    clock.advance(60)

    with pytest.raises(AuthBackoffError):
        await client.login()
    assert len(fake.login_attempts) == 1


async def test_locked_account_raises_locked(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    fake.failed_logins = 6
    client = make_client(url)

    with pytest.raises(LoginLockedError) as caught:
        await client.login()
    assert caught.value.status == 429

    with pytest.raises(AuthBackoffError):
        await client.login()
    assert len(fake.login_attempts) == 1


async def test_locked_account_honours_retry_after(
    fake_dify: StartFake, make_client: MakeClient, clock: FakeClock
) -> None:
    fake, url = await fake_dify("1.15")
    locked = Scripted(status=429, body={"code": "email_code_login_limit"}, headers={"Retry-After": "7200"})
    fake.script("POST", LOGIN, locked)
    client = make_client(url)

    with pytest.raises(LoginLockedError):
        await client.login()
    clock.advance(900)

    with pytest.raises(AuthBackoffError) as caught:
        await client.login()
    assert caught.value.retry_at == clock.now - 900 + 7200


@pytest.mark.parametrize(
    ("scripted", "status"),
    [
        (Scripted(status=403, body={"code": "forbidden", "message": "Forbidden"}), 403),
        (Scripted(status=400, body={"code": "account_banned", "message": "Account is banned."}), 400),
    ],
)
async def test_login_rejection_backs_off(
    fake_dify: StartFake, make_client: MakeClient, scripted: Scripted, status: int
) -> None:
    fake, url = await fake_dify("1.15")
    fake.script("POST", LOGIN, scripted)
    client = make_client(url)

    with pytest.raises(AuthenticationError) as caught:
        await client.login()
    assert caught.value.status == status

    with pytest.raises(AuthBackoffError):
        await client.login()


async def test_fail_result_is_authentication_error(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15", login_result_fail=True)
    client = make_client(url)

    with pytest.raises(AuthenticationError) as caught:
        await client.login()
    assert "workspace not found" in caught.value.message
    assert client.generation is None

    with pytest.raises(AuthBackoffError):
        await client.login()


async def test_login_5xx_no_backoff(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    fake.script("POST", LOGIN, Scripted(status=502, body={"message": "bad gateway"}))
    client = make_client(url)

    with pytest.raises(HTTPStatusError) as caught:
        await client.login()
    assert caught.value.status == 502
    assert len(fake.login_attempts) == 1

    await client.login()
    assert len(fake.login_attempts) == 2


# Admin API key


async def test_admin_key_headers(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15", admin_key=ADMIN_KEY)
    client = make_client(url, admin_credentials(ADMIN_KEY, WORKSPACE_ID))

    await client.login()
    apps = await client.list_apps()

    request = fake.requests_to("/console/api/apps")[0]
    assert client.generation is LoginGeneration.ADMIN_KEY
    assert len(apps) == 5
    assert fake.login_attempts == []
    assert request.headers["Authorization"] == f"Bearer {ADMIN_KEY}"
    assert request.headers["X-WORKSPACE-ID"] == WORKSPACE_ID
    assert "X-CSRF-Token" not in request.headers
    assert "Cookie" not in request.headers


async def test_admin_key_401_raises_at_once(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15", admin_key=ADMIN_KEY)
    client = make_client(url, admin_credentials(ADMIN_KEY, "00000000-0000-4000-8000-000000000000"))

    with pytest.raises(AuthenticationError) as caught:
        await client.get_profile()

    assert caught.value.status == 401
    assert caught.value.endpoint == PROFILE
    assert len(fake.requests) == 1


# Server version


async def test_server_version_follows_headers(fake_dify: StartFake, make_client: MakeClient) -> None:
    fake, url = await fake_dify("1.15")
    client = make_client(url)
    await client.get_profile()

    fake.version_header = "1.15.1"
    await client.get_profile()

    assert client.server_version == "1.15.1"


def test_client_rejects_unknown_credentials(make_transport: Callable[..., Any]) -> None:
    with pytest.raises(TypeError, match="credentials"):
        DifyClient("http://127.0.0.1:1", object(), make_transport())  # type: ignore[arg-type]
