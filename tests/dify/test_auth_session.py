"""Tests for reading sessions and their lifetimes from login and refresh responses."""

from __future__ import annotations

import jwt
import pytest

from otel_dify.dify.auth.session import REFRESH_MARGIN_S, apply_refresh, session_from_login
from otel_dify.dify.cookies import parse_set_cookie_headers
from otel_dify.dify.errors import InvalidResponseError
from otel_dify.dify.models import LoginGeneration

NOW = 5000.0
WALL_NOW = 1_800_000_000.0
LOGIN = "/console/api/login"


def _jwt(exp: float) -> str:
    return jwt.encode({"exp": int(exp), "sub": "account"}, "test-key-0123456789-0123456789-0123", algorithm="HS256")


def test_body_token_generation() -> None:
    token = _jwt(WALL_NOW + 30 * 86400)

    session = session_from_login({"result": "success", "data": token}, (), now=NOW, wall_now=WALL_NOW, endpoint=LOGIN)

    assert session.generation is LoginGeneration.BODY_TOKEN
    assert session.request_headers() == {"Authorization": f"Bearer {token}"}
    assert session.can_refresh is False
    assert session.renew_at == pytest.approx(NOW + 30 * 86400 - REFRESH_MARGIN_S)


def test_token_pair_generation() -> None:
    access = _jwt(WALL_NOW + 3600)
    body = {"result": "success", "data": {"access_token": access, "refresh_token": "r1"}}

    session = session_from_login(body, (), now=NOW, wall_now=WALL_NOW, endpoint=LOGIN)

    assert session.generation is LoginGeneration.TOKEN_PAIR
    assert session.can_refresh is True
    assert session.refresh_request() == ({}, {"refresh_token": "r1"})
    assert session.renew_at == pytest.approx(NOW + 3600 - REFRESH_MARGIN_S)


def test_cookie_generation_uses_max_age() -> None:
    cookies = parse_set_cookie_headers(
        [
            f"access_token={_jwt(WALL_NOW + 99999)}; Max-Age=3600; HttpOnly; Path=/",
            "refresh_token=r1; Max-Age=2592000; HttpOnly; Path=/",
            "csrf_token=c1; Max-Age=1800; Path=/",
        ]
    )

    session = session_from_login({"result": "success"}, cookies, now=NOW, wall_now=WALL_NOW, endpoint=LOGIN)

    assert session.generation is LoginGeneration.COOKIE_CSRF
    # The CSRF cookie expires first, and its Max-Age beats the JWT exp.
    assert session.renew_at == pytest.approx(NOW + 1800 - REFRESH_MARGIN_S)


def test_cookie_generation_falls_back_to_jwt_exp() -> None:
    cookies = parse_set_cookie_headers([f"access_token={_jwt(WALL_NOW + 600)}; Path=/", "csrf_token=c1; Path=/"])

    session = session_from_login({"result": "success"}, cookies, now=NOW, wall_now=WALL_NOW, endpoint=LOGIN)

    assert session.renew_at == pytest.approx(NOW + 600 - REFRESH_MARGIN_S)


def test_cookie_headers_with_host_prefix() -> None:
    cookies = parse_set_cookie_headers(
        [
            "__Host-access_token=a1; Max-Age=3600; Secure; Path=/",
            "__Host-refresh_token=r1; Max-Age=2592000; Secure; Path=/",
            "__Host-csrf_token=c1; Max-Age=3600; Secure; Path=/",
        ]
    )

    session = session_from_login({"result": "success"}, cookies, now=NOW, wall_now=WALL_NOW, endpoint=LOGIN)

    assert session.request_headers() == {
        "Cookie": "__Host-access_token=a1; __Host-refresh_token=r1; __Host-csrf_token=c1",
        "X-CSRF-Token": "c1",
    }
    assert session.refresh_request() == ({"Cookie": "__Host-refresh_token=r1"}, None)


def test_short_lifetime_renews_at_half() -> None:
    cookies = parse_set_cookie_headers(["access_token=a; Max-Age=60", "csrf_token=c; Max-Age=60"])

    session = session_from_login({"result": "success"}, cookies, now=NOW, wall_now=WALL_NOW, endpoint=LOGIN)

    assert session.renew_at == pytest.approx(NOW + 30)


def test_unreadable_token_has_no_renewal_time() -> None:
    body = {"result": "success", "data": "opaque"}

    session = session_from_login(body, (), now=NOW, wall_now=WALL_NOW, endpoint=LOGIN)

    assert session.renew_at is None
    assert session.renewal_due(NOW + 10**9) is False


def test_skewed_expired_jwt_has_no_renewal_time() -> None:
    body = {"result": "success", "data": _jwt(WALL_NOW - 10)}

    session = session_from_login(body, (), now=NOW, wall_now=WALL_NOW, endpoint=LOGIN)

    assert session.renew_at is None


def test_login_without_tokens_is_invalid() -> None:
    with pytest.raises(InvalidResponseError) as caught:
        session_from_login({"result": "success"}, (), now=NOW, wall_now=WALL_NOW, endpoint=LOGIN)

    assert caught.value.endpoint == LOGIN


def test_refresh_rotates_cookies() -> None:
    login_cookies = parse_set_cookie_headers(["access_token=a1; Max-Age=3600", "refresh_token=r1", "csrf_token=c1"])
    session = session_from_login({"result": "success"}, login_cookies, now=NOW, wall_now=WALL_NOW, endpoint=LOGIN)
    refresh_cookies = parse_set_cookie_headers(
        ["csrf_token=c2; Max-Age=3600", "access_token=a2; Max-Age=3600", "refresh_token=r2"]
    )

    refreshed = apply_refresh(session, {"result": "success"}, refresh_cookies, now=NOW + 100, wall_now=WALL_NOW)

    assert refreshed is True
    assert session.request_headers() == {
        "Cookie": "access_token=a2; refresh_token=r2; csrf_token=c2",
        "X-CSRF-Token": "c2",
    }
    assert session.renew_at == pytest.approx(NOW + 100 + 3600 - REFRESH_MARGIN_S)


def test_refresh_without_cookies_fails() -> None:
    login_cookies = parse_set_cookie_headers(["access_token=a1", "refresh_token=r1", "csrf_token=c1"])
    session = session_from_login({"result": "success"}, login_cookies, now=NOW, wall_now=WALL_NOW, endpoint=LOGIN)

    assert apply_refresh(session, {"result": "success"}, (), now=NOW, wall_now=WALL_NOW) is False


def test_refresh_token_pair_rotates() -> None:
    body = {"result": "success", "data": {"access_token": "a1", "refresh_token": "r1"}}
    session = session_from_login(body, (), now=NOW, wall_now=WALL_NOW, endpoint=LOGIN)

    refresh_body = {"result": "success", "data": {"access_token": "a2", "refresh_token": "r2"}}

    refreshed = apply_refresh(session, refresh_body, (), now=NOW, wall_now=WALL_NOW)

    assert refreshed is True
    assert session.request_headers() == {"Authorization": "Bearer a2"}
    assert session.refresh_request() == ({}, {"refresh_token": "r2"})
