"""Tests for the hand-kept Dify cookie store."""

from __future__ import annotations

from otel_dify.dify.cookies import CookieStore, parse_set_cookie, parse_set_cookie_headers
from tests.fixtures_loader import capture

NOW = 1_800_000_000.0


def _captured_set_cookie_headers(name: str, value: str) -> list[str]:
    """Return a capture's Set-Cookie headers with the redacted values replaced by ``value``."""
    headers = capture(name)["response"]["headers"]
    return [text.replace("<redacted> ", value) for key, text in headers if key == "Set-Cookie"]


def test_parse_captured_login_cookies() -> None:
    cookies = parse_set_cookie_headers(_captured_set_cookie_headers("10_login", "abc.def.ghi"))

    assert [cookie.name for cookie in cookies] == ["access_token", "refresh_token", "csrf_token"]
    assert [cookie.value for cookie in cookies] == ["abc.def.ghi"] * 3
    assert [cookie.max_age_s for cookie in cookies] == [3600, 2592000, 3600]


def test_parse_host_prefixed_secure_cookie() -> None:
    cookie = parse_set_cookie("__Host-access_token=tok.en; Max-Age=3600; HttpOnly; Secure; Path=/; SameSite=Lax")

    assert cookie is not None
    assert cookie.name == "__Host-access_token"
    assert cookie.value == "tok.en"


def test_parse_keeps_value_bytes() -> None:
    cookie = parse_set_cookie('session="a=b==" ; Path=/')

    assert cookie is not None
    assert cookie.value == '"a=b=="'


def test_parse_rejects_missing_pair() -> None:
    assert parse_set_cookie("HttpOnly; Path=/") is None
    assert parse_set_cookie("=value") is None


def test_parse_bad_max_age_is_unknown() -> None:
    cookie = parse_set_cookie("a=1; Max-Age=soon")

    assert cookie is not None
    assert cookie.max_age_s is None


def test_cookie_repr_hides_value() -> None:
    cookie = parse_set_cookie("access_token=very-secret; Max-Age=60")

    assert "very-secret" not in repr(cookie)


def test_store_header_in_first_set_order() -> None:
    store = CookieStore(wall_clock=lambda: NOW)
    store.update(parse_set_cookie_headers(["a=1; Path=/", "b=2; Path=/", "a=3; Path=/"]))

    assert store.header_value() == "a=3; b=2"


def test_store_header_selected_names() -> None:
    store = CookieStore(wall_clock=lambda: NOW)
    store.update(parse_set_cookie_headers(["a=1", "b=2", "c=3"]))

    assert store.header_value(["c", "a"]) == "a=1; c=3"
    assert store.header_value(["missing"]) is None


def test_store_deletes_logout_cookies() -> None:
    store = CookieStore(wall_clock=lambda: NOW)
    store.update(parse_set_cookie_headers(["access_token=x", "refresh_token=y", "csrf_token=z"]))

    store.update(
        parse_set_cookie_headers(
            [
                "access_token=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Path=/",
                "refresh_token=y; Max-Age=0",
                "csrf_token=z; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
            ]
        )
    )

    assert store.names() == []


def test_store_max_age_wins_over_past_expires() -> None:
    store = CookieStore(wall_clock=lambda: NOW)
    store.update(parse_set_cookie_headers(["a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60"]))

    assert store.header_value() == "a=1"


def test_store_find_by_suffix() -> None:
    store = CookieStore(wall_clock=lambda: NOW)
    store.update(parse_set_cookie_headers(["__Host-access_token=a", "__Host-csrf_token=c"]))

    assert store.find_by_suffix("csrf_token") == ("__Host-csrf_token", "c")
    assert store.find_by_suffix("refresh_token") is None


def test_store_repr_hides_values() -> None:
    store = CookieStore(wall_clock=lambda: NOW)
    store.update(parse_set_cookie_headers(["access_token=very-secret"]))

    assert "very-secret" not in repr(store)
    assert "access_token" in repr(store)


def test_store_lookups_follow_updates() -> None:
    store = CookieStore(wall_clock=lambda: NOW)
    store.update(parse_set_cookie_headers(["access_token=a1", "csrf_token=c1"]))
    first_header = store.header_value()
    first_csrf = store.find_by_suffix("csrf_token")
    missing_refresh = store.find_by_suffix("refresh_token")

    # A refresh replaces both tokens and adds a refresh cookie.
    store.update(parse_set_cookie_headers(["access_token=a2", "csrf_token=c2", "refresh_token=r2"]))

    assert first_header == "access_token=a1; csrf_token=c1"
    assert first_csrf == ("csrf_token", "c1")
    assert missing_refresh is None
    assert store.header_value() == "access_token=a2; csrf_token=c2; refresh_token=r2"
    assert store.find_by_suffix("csrf_token") == ("csrf_token", "c2")
    assert store.find_by_suffix("refresh_token") == ("refresh_token", "r2")


def test_store_lookups_after_clear() -> None:
    store = CookieStore(wall_clock=lambda: NOW)
    store.update(parse_set_cookie_headers(["access_token=a", "csrf_token=c"]))
    store.header_value()
    store.find_by_suffix("csrf_token")

    store.clear()

    assert store.header_value() is None
    assert store.find_by_suffix("csrf_token") is None
