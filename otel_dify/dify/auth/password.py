"""How the login password goes on the wire, and how ``auto`` finds out.

Dify 1.11.2 and later Base64-decode the ``password`` field of
``POST /console/api/login`` and reject a value that is not Base64 with
401 "Invalid encrypted data". Older releases compare the field with the
password as it is. Every rejected login counts towards Dify's lock-out (the
e-mail is locked for 24 hours after more than 5 failures), so ``auto`` spends
at most one extra failed attempt per process on finding the encoding.
"""

from __future__ import annotations

import base64
from typing import Literal

from otel_dify.dify.auth.credentials import PasswordEncoding
from otel_dify.dify.version import BASE64_PASSWORD_SINCE, Version

WireEncoding = Literal["base64", "plain"]

#: Message of Dify's 401 when the password field is not valid Base64.
INVALID_ENCRYPTED_DATA = "Invalid encrypted data"


def encode_password(password: str, encoding: WireEncoding) -> str:
    """Return the ``password`` field value: Base64 of the UTF-8 bytes, or the text as it is."""
    if encoding == "base64":
        return base64.b64encode(password.encode("utf-8")).decode("ascii")
    return password


def encoding_for_version(version: Version) -> WireEncoding:
    """Return the encoding that Dify release ``version`` expects."""
    return "base64" if version >= BASE64_PASSWORD_SINCE else "plain"


def _other(encoding: WireEncoding) -> WireEncoding:
    return "plain" if encoding == "base64" else "base64"


class PasswordEncodingSelector:
    """Chooses the wire encoding for each login attempt of one client.

    With a fixed mode (``base64`` or ``plain``) it always returns that mode.
    With ``auto`` it picks by the server version when known, else by what
    worked or what Dify's error message proved, else Base64. After a 401 it
    offers the other encoding at most once in the selector's lifetime.
    """

    def __init__(self, mode: PasswordEncoding) -> None:
        self._mode = mode
        self._learned: WireEncoding | None = None
        self._fallback_used = False

    def choose(self, version: Version | None) -> WireEncoding:
        """Return the encoding for the next login attempt."""
        if self._mode != "auto":
            return self._mode
        if version is not None:
            return encoding_for_version(version)
        if self._learned is not None:
            return self._learned
        return "base64"

    def record_success(self, encoding: WireEncoding) -> None:
        """Remember the encoding of a successful login."""
        self._learned = encoding

    def fallback_after_rejection(
        self, rejected: WireEncoding, version: Version | None, message: str
    ) -> WireEncoding | None:
        """Return the encoding to retry with at once after a 401, or None to give up.

        ``version`` is the server version known after the rejection (the 401
        itself may carry ``X-Version``) and ``message`` is Dify's error
        message. When the version shows that ``rejected`` was the right
        encoding, the password itself is wrong and None is returned.
        """
        proves_base64 = rejected == "plain" and INVALID_ENCRYPTED_DATA.lower() in message.lower()
        if proves_base64:
            self._learned = "base64"

        if self._mode != "auto" or self._fallback_used:
            return None

        if not proves_base64 and version is not None and encoding_for_version(version) == rejected:
            return None

        self._fallback_used = True
        return _other(rejected)
