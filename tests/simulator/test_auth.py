"""Console authentication of the 1.15 profile: login, lockout, tokens, CSRF, refresh, logout, admin key."""

from __future__ import annotations

import jwt

from otel_dify.dify.models import AppMode
from otel_dify.simulator import DEFAULT_START, Dataset, DifySimulator, SessionTokens
from otel_dify.simulator.tokens import TokenSigner
from tests.simulator.conftest import ADMIN_KEY
from tests.simulator.support import Console, serving, session_headers, set_cookie_attributes, set_cookie_values

PROFILE_PATH = "/console/api/account/profile"
REFRESH_PATH = "/console/api/refresh-token"


def tokens_from(cookies: dict[str, str], prefix: str = "") -> SessionTokens:
    return SessionTokens(cookies[f"{prefix}access_token"], cookies[f"{prefix}refresh_token"], cookies[f"{prefix}csrf_token"])


async def refresh(console: Console, token: str, prefix: str = "") -> tuple[int, dict[str, object], dict[str, str]]:
    reply = await console.request("POST", REFRESH_PATH, headers={"Cookie": f"{prefix}refresh_token={token}"})
    return reply.status, reply.body, set_cookie_values(reply)


# -- login -------------------------------------------------------------------


async def test_login_sets_three_cookies(console: Console) -> None:
    reply = await console.login()
    cookies = set_cookie_values(reply)

    assert reply.status == 200
    assert reply.body == {"result": "success"}
    assert list(cookies) == ["access_token", "refresh_token", "csrf_token"]
    assert "HttpOnly" in set_cookie_attributes(reply, "access_token")
    assert "HttpOnly" not in set_cookie_attributes(reply, "csrf_token")
    assert "Max-Age=3600" in set_cookie_attributes(reply, "csrf_token")
    assert "Max-Age=2592000" in set_cookie_attributes(reply, "refresh_token")


async def test_login_token_claims(console: Console) -> None:
    cookies = set_cookie_values(await console.login())
    access = jwt.decode(cookies["access_token"], options={"verify_signature": False})
    csrf = jwt.decode(cookies["csrf_token"], options={"verify_signature": False})
    now_s = int(console.sim.clock.timestamp())

    assert access == {"user_id": console.sim.admin.id, "exp": now_s + 3600, "iss": "SELF_HOSTED", "sub": "Console API Passport"}
    assert csrf == {"exp": now_s + 3600, "sub": console.sim.admin.id}
    assert len(cookies["refresh_token"]) == 128


async def test_login_plain_password_rejected(console: Console) -> None:
    reply = await console.login(encode=False)
    assert reply.status == 401
    assert reply.body == {"code": "authentication_failed", "message": "Invalid encrypted data", "status": 401}


async def test_login_wrong_password(console: Console) -> None:
    reply = await console.login(password="wrong-password")
    assert reply.status == 401
    assert reply.body["message"] == "Invalid email or password."
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="api"'


async def test_login_missing_field(console: Console) -> None:
    reply = await console.request("POST", "/console/api/login", json_body={"email": "admin@example.com"})
    assert reply.status == 400
    assert reply.body["code"] == "invalid_param"
    assert reply.body["message"].startswith("1 validation error for LoginPayload\npassword\n  Field required [type=missing")


async def test_login_email_case_insensitive(console: Console) -> None:
    reply = await console.login(email="ADMIN@example.com")
    assert reply.status == 200


async def test_lockout_after_six_failures(console: Console) -> None:
    statuses = [(await console.login(password="wrong-password")).status for _ in range(6)]
    seventh = await console.login(password="wrong-password")
    correct = await console.login()

    assert statuses == [401] * 6
    assert seventh.status == 429
    assert seventh.body == {
        "code": "email_code_login_limit",
        "message": "Too many incorrect password attempts. Please try again later.",
        "status": 429,
    }
    assert correct.status == 429


async def test_unknown_email_counts(console: Console) -> None:
    for _ in range(6):
        await console.login(email="nobody@example.com")
    reply = await console.login(email="nobody@example.com")
    assert reply.status == 429


async def test_success_resets_counter(console: Console) -> None:
    for _ in range(5):
        await console.login(password="wrong-password")
    assert (await console.login()).status == 200
    statuses = [(await console.login(password="wrong-password")).status for _ in range(6)]
    assert statuses == [401] * 6
    assert console.sim.auth.failed_login_count("admin@example.com") == 6


async def test_lockout_expires_by_clock(console: Console) -> None:
    for _ in range(6):
        await console.login(password="wrong-password")
    console.sim.clock.advance(86399)
    still_locked = await console.login()
    console.sim.clock.advance(1)
    unlocked = await console.login()

    assert still_locked.status == 429
    assert unlocked.status == 200


async def test_failure_refreshes_lockout_ttl(console: Console) -> None:
    for _ in range(3):
        await console.login(password="wrong-password")
    console.sim.clock.advance(86000)
    await console.login(password="wrong-password")
    console.sim.clock.advance(1000)
    assert console.sim.auth.failed_login_count("admin@example.com") == 4


async def test_login_attempts_logged(console: Console) -> None:
    await console.login(password="wrong-password")
    await console.login()
    assert console.sim.login_attempts() == 2


# -- access tokens -------------------------------------------------------------


async def test_cookie_and_bearer_accepted(console: Console) -> None:
    tokens = console.sim.issue_session()
    assert (await console.get(PROFILE_PATH, tokens, mode="cookie")).status == 200
    assert (await console.get(PROFILE_PATH, tokens, mode="bearer")).status == 200


async def test_no_auth_rejected(console: Console) -> None:
    reply = await console.get(PROFILE_PATH)
    assert reply.status == 401
    assert reply.body == {"code": "unauthorized", "message": "Invalid Authorization token.", "status": 401}
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="api"'


async def test_access_token_expiry_by_clock(console: Console) -> None:
    tokens = console.sim.issue_session()
    console.sim.clock.advance(3599)
    fresh = await console.get(PROFILE_PATH, tokens)
    console.sim.clock.advance(1)
    expired = await console.get(PROFILE_PATH, tokens)

    assert fresh.status == 200
    assert expired.status == 401
    assert expired.body["message"] == "Token has expired."


async def test_configurable_access_ttl() -> None:
    sim = DifySimulator(access_token_ttl_s=60, secret_key="t" * 48)
    async with serving(sim) as console:
        tokens = sim.issue_session()
        sim.clock.advance(60)
        reply = await console.get(PROFILE_PATH, tokens)
    assert reply.body["message"] == "Token has expired."


async def test_foreign_signature_rejected(console: Console) -> None:
    tokens = console.sim.issue_session()
    foreign = TokenSigner("f" * 48).issue_access_token(console.sim.admin.id, expires_at_s=int(console.sim.clock.timestamp()) + 60)
    reply = await console.get(PROFILE_PATH, SessionTokens(foreign, None, tokens.csrf_token), mode="bearer")
    assert reply.body["message"] == "Invalid token signature."


async def test_garbage_token_rejected(console: Console) -> None:
    reply = await console.get(PROFILE_PATH, headers={"Authorization": "Bearer not-a-jwt"})
    assert reply.status == 401
    assert reply.body["message"] == "Invalid token."


# -- CSRF --------------------------------------------------------------------


async def test_csrf_required_on_get(console: Console) -> None:
    tokens = console.sim.issue_session()
    for mode in ("bearer-nocsrf", "bearer-csrfheader-only", "cookie-nocsrf"):
        reply = await console.get(PROFILE_PATH, tokens, mode=mode)
        assert reply.status == 401, mode
        assert reply.body["message"] == "CSRF token is missing or invalid.", mode


async def test_csrf_header_must_equal_cookie(console: Console) -> None:
    tokens = console.sim.issue_session()
    console.sim.clock.advance(1)  # a different exp, so a different token
    other = console.sim.issue_session()
    headers = session_headers(tokens)
    headers["X-CSRF-Token"] = other.csrf_token or ""
    reply = await console.get(PROFILE_PATH, headers=headers)
    assert reply.body["message"] == "CSRF token is missing or invalid."


async def test_csrf_of_other_account_rejected(console: Console) -> None:
    sim = console.sim
    tokens = sim.issue_session()
    stranger_csrf = sim.auth.signer.issue_csrf_token("someone-else", expires_at_s=int(sim.clock.timestamp()) + 60)
    reply = await console.get(PROFILE_PATH, headers=session_headers(tokens, csrf_override=stranger_csrf))
    assert reply.status == 401
    assert reply.body["message"] == "CSRF token is missing or invalid."


async def test_expired_csrf_rejected(console: Console) -> None:
    sim = console.sim
    tokens = sim.issue_session()
    expired = sim.auth.signer.issue_csrf_token(sim.admin.id, expires_at_s=int(sim.clock.timestamp()) - 1)
    reply = await console.get(PROFILE_PATH, headers=session_headers(tokens, csrf_override=expired))
    assert reply.body["message"] == "CSRF token is missing or invalid."


async def test_auth_checked_before_csrf(console: Console) -> None:
    reply = await console.get(PROFILE_PATH, headers={"X-CSRF-Token": "x"})
    assert reply.body["message"] == "Invalid Authorization token."


# -- refresh and logout -----------------------------------------------------------


async def test_refresh_rotates(console: Console) -> None:
    first = tokens_from(set_cookie_values(await console.login()))
    status, body, cookies = await refresh(console, first.refresh_token or "")
    reuse_status, reuse_body, _ = await refresh(console, first.refresh_token or "")
    second = tokens_from(cookies)

    assert status == 200
    assert body == {"result": "success"}
    assert list(cookies) == ["csrf_token", "access_token", "refresh_token"]
    assert second.refresh_token != first.refresh_token
    assert reuse_status == 401
    assert reuse_body == {"result": "fail", "message": "Invalid refresh token"}
    assert (await console.get(PROFILE_PATH, second)).status == 200


async def test_old_access_valid_after_refresh(console: Console) -> None:
    first = console.sim.issue_session()
    await refresh(console, first.refresh_token or "")
    assert (await console.get(PROFILE_PATH, first)).status == 200


async def test_refresh_missing_cookie(console: Console) -> None:
    reply = await console.request("POST", REFRESH_PATH)
    assert reply.status == 401
    assert reply.body == {"result": "fail", "message": "No refresh token provided"}


async def test_refresh_needs_no_csrf(console: Console) -> None:
    tokens = console.sim.issue_session()
    status, _, _ = await refresh(console, tokens.refresh_token or "")
    assert status == 200
    assert console.sim.request_log[-1].auth_kind == "refresh"


async def test_refresh_token_expires(console: Console) -> None:
    tokens = console.sim.issue_session()
    console.sim.clock.advance(30 * 86400)
    status, body, _ = await refresh(console, tokens.refresh_token or "")
    assert status == 401
    assert body["message"] == "Invalid refresh token"


async def test_logout_deletes_latest_refresh(console: Console) -> None:
    session_a = tokens_from(set_cookie_values(await console.login()))
    session_b = tokens_from(set_cookie_values(await console.login()))
    _, _, a2_cookies = await refresh(console, session_a.refresh_token or "")
    session_a2 = tokens_from(a2_cookies)

    logout = await console.request("POST", "/console/api/logout", headers=session_headers(session_b))
    a2_refresh, _, _ = await refresh(console, session_a2.refresh_token or "")
    b_refresh, _, _ = await refresh(console, session_b.refresh_token or "")

    assert logout.status == 200
    assert logout.body == {"result": "success"}
    assert a2_refresh == 401
    assert b_refresh == 200
    assert (await console.get(PROFILE_PATH, session_b)).status == 200


async def test_logout_clears_cookies(console: Console) -> None:
    tokens = console.sim.issue_session()
    reply = await console.request("POST", "/console/api/logout", headers=session_headers(tokens))
    assert set_cookie_values(reply) == {"access_token": "", "refresh_token": "", "csrf_token": ""}
    assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in set_cookie_attributes(reply, "refresh_token")


async def test_logout_needs_token(console: Console) -> None:
    reply = await console.request("POST", "/console/api/logout")
    assert reply.status == 401


# -- admin key -----------------------------------------------------------------


def admin_headers(workspace_id: str | None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    if workspace_id is not None:
        headers["X-WORKSPACE-ID"] = workspace_id
    return headers


async def test_admin_key_without_csrf(console: Console) -> None:
    workspace = console.sim.dataset.current_workspace(console.sim.admin.id)
    reply = await console.get("/console/api/apps", headers=admin_headers(workspace.id))
    assert reply.status == 200
    assert reply.body["total"] == 5
    assert console.sim.request_log[-1].auth_kind == "admin-key"


async def test_admin_key_uses_owner_timezone(console: Console) -> None:
    sim = console.sim
    workspace = sim.dataset.current_workspace(sim.admin.id)
    sim.admin.timezone = "Asia/Tokyo"
    reply = await console.get(PROFILE_PATH, headers=admin_headers(workspace.id))
    assert reply.body["timezone"] == "Asia/Tokyo"
    assert reply.body["id"] == sim.admin.id


async def test_admin_key_needs_workspace(console: Console) -> None:
    missing = await console.get("/console/api/apps", headers=admin_headers(None))
    unknown = await console.get("/console/api/apps", headers=admin_headers("00000000-0000-4000-8000-000000000000"))
    assert missing.status == 401
    assert missing.body["message"] == "Invalid token."
    assert unknown.body["message"] == "Invalid token."


async def test_admin_key_disabled() -> None:
    sim = DifySimulator(secret_key="t" * 48)
    async with serving(sim) as console:
        workspace = sim.dataset.current_workspace(sim.admin.id)
        reply = await console.get("/console/api/apps", headers=admin_headers(workspace.id))
    assert reply.status == 401
    assert reply.body["message"] == "Invalid token."


async def test_admin_key_reaches_other_workspace() -> None:
    dataset = Dataset.generate(5, DEFAULT_START, workspaces=2)
    sim = DifySimulator(admin_api_key=ADMIN_KEY, secret_key="t" * 48, dataset=dataset)
    second = list(sim.dataset.workspaces.values())[1]
    async with serving(sim) as console:
        apps = await console.get("/console/api/apps", headers=admin_headers(second.id))
        profile = await console.get(PROFILE_PATH, headers=admin_headers(second.id))

    assert {item["id"] for item in apps.body["data"]} == {app.id for app in sim.apps(second.id)}
    assert profile.body["timezone"] == sim.dataset.owner_of(second.id).timezone
    assert profile.body["timezone"] != sim.admin.timezone


# -- secure cookies ------------------------------------------------------------


async def test_secure_cookie_names() -> None:
    sim = DifySimulator(secure_cookies=True, secret_key="t" * 48)
    async with serving(sim) as console:
        login = await console.login()
        cookies = set_cookie_values(login)
        tokens = tokens_from(cookies, "__Host-")
        with_prefix = await console.get(PROFILE_PATH, headers=session_headers(tokens, prefix="__Host-"))
        plain_names = await console.get(PROFILE_PATH, headers=session_headers(tokens))
        refreshed, _, refreshed_cookies = await refresh(console, tokens.refresh_token or "", prefix="__Host-")

    assert list(cookies) == ["__Host-access_token", "__Host-refresh_token", "__Host-csrf_token"]
    assert "Secure" in set_cookie_attributes(login, "__Host-csrf_token")
    assert with_prefix.status == 200
    assert plain_names.status == 401
    assert refreshed == 200
    assert "__Host-refresh_token" in refreshed_cookies


async def test_stats_need_login(console: Console) -> None:
    chat = console.sim.app_of_mode(AppMode.CHAT)
    reply = await console.get(f"/console/api/apps/{chat.id}/statistics/daily-messages")
    assert reply.status == 401


async def test_non_ascii_password() -> None:
    sim = DifySimulator(admin_password="pässwörd-2026", secret_key="t" * 48)
    async with serving(sim) as console:
        right = await console.login(password="pässwörd-2026")
        wrong = await console.login(password="päss")
    assert right.status == 200
    assert wrong.status == 401
