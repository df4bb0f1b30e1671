"""The two ways to authenticate to Dify's console API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr

PasswordEncoding = Literal["auto", "base64", "plain"]

_PASSWORD_ENCODINGS: frozenset[str] = frozenset({"auto", "base64", "plain"})


@dataclass(frozen=True)
class ConsoleCredentials:
    """An account's e-mail and password for ``POST /console/api/login``.

    ``password_encoding`` sets how the password goes on the wire: Dify 1.11.2
    and later expect Base64 of the UTF-8 password, older releases the plain
    text. ``auto`` picks by the server's ``X-Version`` header and, when the
    version is unknown, tries Base64 and then plain text once per process.
    """

    email: str
    password: SecretStr
    password_encoding: PasswordEncoding = "auto"

    def __post_init__(self) -> None:
        if "@" not in self.email:
            raise ValueError("ConsoleCredentials.email must be an e-mail address")
        if not self.password.get_secret_value():
            raise ValueError("ConsoleCredentials.password must not be empty")
        if self.password_encoding not in _PASSWORD_ENCODINGS:
            raise ValueError(
                f"ConsoleCredentials.password_encoding must be one of auto, base64, plain, "
                f"got {self.password_encoding!r}"
            )

    @property
    def email_domain(self) -> str:
        """The part of the e-mail after the last ``@``, which logs use instead of the address."""
        return self.email.rpartition("@")[2] or "unknown"


@dataclass(frozen=True)
class AdminKeyCredentials:
    """Dify's ``ADMIN_API_KEY`` and the workspace (tenant) id the requests act in.

    Dify runs each such request as the owner of ``workspace_id``. It needs
    ``ADMIN_API_KEY_ENABLE=true`` on the server, and works on Dify 1.9.1 and
    older and on 1.11.0 and later; 1.9.2 to 1.10.x still check CSRF on these
    requests, so the key cannot be used there.
    """

    api_key: SecretStr
    workspace_id: str

    def __post_init__(self) -> None:
        if not self.api_key.get_secret_value():
            raise ValueError("AdminKeyCredentials.api_key must not be empty")
        if not self.workspace_id.strip():
            raise ValueError("AdminKeyCredentials.workspace_id must not be empty")
