"""Tests for parsing Dify's X-Version header."""

from __future__ import annotations

import pytest

from otel_dify.dify.version import BASE64_PASSWORD_SINCE, ServerVersion, parse_version


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.15.0", (1, 15, 0)),
        ("0.9.1", (0, 9, 1)),
        ("v1.9.2", (1, 9, 2)),
        ("1.11.2-fix.1", (1, 11, 2)),
        ("1.10", (1, 10, 0)),
        (" 1.4.3 ", (1, 4, 3)),
    ],
)
def test_parse_version_accepts(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize("text", [None, "", "latest", "one.two"])
def test_parse_version_rejects(text: str | None) -> None:
    assert parse_version(text) is None


def test_server_version_keeps_value_without_header() -> None:
    version = ServerVersion()
    version.update_from_headers({"X-Version": "1.15.0"})
    version.update_from_headers({})

    assert version.text == "1.15.0"
    assert version.parsed == (1, 15, 0)


def test_server_version_follows_upgrade() -> None:
    version = ServerVersion()
    version.update_from_headers({"X-Version": "1.11.1"})
    assert version.at_least(BASE64_PASSWORD_SINCE) is False

    version.update_from_headers({"X-Version": "1.11.2"})
    assert version.at_least(BASE64_PASSWORD_SINCE) is True


def test_server_version_unknown_comparison() -> None:
    assert ServerVersion().at_least(BASE64_PASSWORD_SINCE) is None


def test_server_version_unparseable_header() -> None:
    version = ServerVersion()
    version.update_from_headers({"X-Version": "nightly"})

    assert version.text == "nightly"
    assert version.parsed is None
