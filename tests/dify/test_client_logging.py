"""Tests that logs and error messages never contain a password, token, cookie value or admin key."""

from __future__ import annotations

import base64
import logging
from typing import Awaitable, Callable

import pytest

from otel_dify.dify.client import DifyClient
from otel_dify.dify.errors import DifyError
from tests.dify.fake_dify import EMAIL, PASSWORD, WORKSPACE_ID, FakeDify, Scripted
from tests.dify.support import FakeClock, admin_credentials, console_credentials

StartFake = Callable[..., Awaitable[tuple[FakeDify, str]]]
MakeClient = Callable[..., DifyClient]

ADMIN_KEY = "admin-key-fedcba9876543210fedcba9876543210ff"
WRONG_PASSWORD = "hunter2 wrong password"


def _record_texts(records: list[logging.LogRecord]) -> list[str]:
    """Return every message and every extra field of the records as text."""
    formatter = logging.Formatter()
    texts: list[str] = []
    for record in records:
        texts.append(record.getMessage())
        texts.extend(repr(value) for value in vars(record).values())
        if record.exc_info:
            texts.append(formatter.formatException(record.exc_info))
    return texts


async def test_no_secret_in_logs_or_errors(
    fake_dify: StartFake, make_client: MakeClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[DifyError] = []

    # A plain-password Dify without X-Version: Base64 fails, then plain works.
    fake, url = await fake_dify("1.10.0", version_header=None, admin_key=ADMIN_KEY)
    client = make_client(url)
    await client.get_profile()

    # Refresh before expiry, refresh on 401, and a rejected refresh followed by a login.
    clock.advance(3600)
    await client.get_profile()
    fake.expire_access_tokens()
    await client.get_profile()
    fake.expire_access_tokens()
    fake.revoke_refresh_tokens()
    await client.get_profile()

    # A retried 5xx and a twice-rejected request.
    fake.script("GET", "/console/api/apps", Scripted(status=503, body={"message": "busy"}))
    await client.list_apps()
    rejection = Scripted(status=401, body={"code": "unauthorized", "message": "CSRF token is missing or invalid."})
    fake.script("GET", "/console/api/account/profile", rejection, rejection)
    with pytest.raises(DifyError) as rejected:
        await client.get_profile()
    errors.append(rejected.value)

    # A wrong password, the back-off after it, and a locked account.
    failing = make_client(url, console_credentials(password=WRONG_PASSWORD))
    for _ in range(2):
        with pytest.raises(DifyError) as failed:
            await failing.login()
        errors.append(failed.value)
    fake.failed_logins = 6
    clock.advance(900)
    with pytest.raises(DifyError) as locked:
        await failing.login()
    errors.append(locked.value)

    # An admin key for the wrong workspace, and one that works.
    wrong_workspace = make_client(url, admin_credentials(ADMIN_KEY, "00000000-0000-4000-8000-000000000000"))
    with pytest.raises(DifyError) as admin_rejected:
        await wrong_workspace.get_profile()
    errors.append(admin_rejected.value)
    await make_client(url, admin_credentials(ADMIN_KEY, WORKSPACE_ID)).list_apps()

    secrets = set(fake.issued_secrets) | {WRONG_PASSWORD, base64.b64encode(WRONG_PASSWORD.encode()).decode()}
    texts = _record_texts(caplog.records) + [str(error) for error in errors]
    leaks = sorted({secret[:12] for secret in secrets for text in texts if secret in text})
    assert len(fake.issued_secrets) > 10
    assert len(caplog.records) > 5
    assert leaks == []
    assert PASSWORD in secrets


async def test_login_failure_logs_domain_only(
    fake_dify: StartFake, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, url = await fake_dify("1.15")

    with pytest.raises(DifyError):
        await make_client(url, console_credentials(password=WRONG_PASSWORD)).login()

    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].email_domain == "example.com"
    assert errors[0].http_status == 401
    assert all(EMAIL not in text for text in _record_texts(caplog.records))


async def test_login_400_echo_not_logged(
    fake_dify: StartFake, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake, url = await fake_dify("1.15")
    # Dify 1.11+ quotes the request body in Pydantic validation messages.
    echo = f"1 validation error for LoginPayload\nemail\n  input_value={{'email': '{EMAIL}', 'password': '{PASSWORD}'}}"
    fake.script("POST", "/console/api/login", Scripted(status=400, body={"code": "invalid_param", "message": echo}))
    fake.script("POST", "/console/api/login", Scripted(status=401, body={"code": "x", "message": f"bad {PASSWORD}"}))
    client = make_client(url, console_credentials(encoding="base64"))

    with pytest.raises(DifyError) as first:
        await client.login()
    fake.failed_logins = 0
    client_again = make_client(url, console_credentials(encoding="base64"))
    with pytest.raises(DifyError) as second:
        await client_again.login()

    texts = _record_texts(caplog.records) + [str(first.value), str(second.value)]
    assert all(PASSWORD not in text for text in texts)
    assert all(EMAIL not in text for text in texts)
    assert "invalid_param" in str(first.value)
    assert "<password>" in str(second.value)
