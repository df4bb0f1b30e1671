"""Tests for choosing the login password encoding."""

from __future__ import annotations

import base64

import pytest

from otel_dify.dify.auth.password import PasswordEncodingSelector, encode_password

INVALID_ENCRYPTED = "Invalid encrypted data"
WRONG_PASSWORD = "Invalid email or password."


def test_encode_base64_utf8() -> None:
    encoded = encode_password("pässwörd", "base64")

    assert base64.b64decode(encoded).decode("utf-8") == "pässwörd"


def test_encode_plain_unchanged() -> None:
    assert encode_password("pässwörd", "plain") == "pässwörd"


@pytest.mark.parametrize(
    ("version", "expected"),
    [((1, 15, 0), "base64"), ((1, 11, 2), "base64"), ((1, 11, 1), "plain"), ((0, 9, 1), "plain"), (None, "base64")],
)
def test_auto_choice_by_version(version: tuple[int, int, int] | None, expected: str) -> None:
    assert PasswordEncodingSelector("auto").choose(version) == expected


@pytest.mark.parametrize("mode", ["base64", "plain"])
def test_fixed_mode_ignores_version(mode: str) -> None:
    selector = PasswordEncodingSelector(mode)  # type: ignore[arg-type]

    assert selector.choose((1, 15, 0)) == mode
    assert selector.choose((0, 9, 1)) == mode
    assert selector.fallback_after_rejection(mode, None, WRONG_PASSWORD) is None  # type: ignore[arg-type]


def test_auto_fallback_only_once() -> None:
    selector = PasswordEncodingSelector("auto")

    assert selector.fallback_after_rejection("base64", None, WRONG_PASSWORD) == "plain"
    assert selector.fallback_after_rejection("plain", None, WRONG_PASSWORD) is None
    assert selector.fallback_after_rejection("base64", None, WRONG_PASSWORD) is None


def test_auto_no_fallback_when_version_confirms() -> None:
    selector = PasswordEncodingSelector("auto")

    # The 401 carried X-Version 1.15.0, so Base64 was right and the password is wrong.
    assert selector.fallback_after_rejection("base64", (1, 15, 0), WRONG_PASSWORD) is None


def test_auto_fallback_when_version_contradicts() -> None:
    selector = PasswordEncodingSelector("auto")

    assert selector.fallback_after_rejection("base64", (1, 10, 0), WRONG_PASSWORD) == "plain"


def test_invalid_encrypted_data_proves_base64() -> None:
    selector = PasswordEncodingSelector("auto")

    assert selector.fallback_after_rejection("plain", (1, 10, 0), INVALID_ENCRYPTED) == "base64"


def test_invalid_encrypted_data_remembered_after_fallback() -> None:
    selector = PasswordEncodingSelector("auto")
    selector.fallback_after_rejection("base64", None, WRONG_PASSWORD)

    assert selector.fallback_after_rejection("plain", None, INVALID_ENCRYPTED) is None
    assert selector.choose(None) == "base64"


def test_success_is_remembered() -> None:
    selector = PasswordEncodingSelector("auto")
    selector.record_success("plain")

    assert selector.choose(None) == "plain"
    assert selector.choose((1, 15, 0)) == "base64"
