"""JWTs signed like Dify's ``PassportService``: HS256 with the server's secret key.

Expiry is checked against the simulator clock, not the machine clock, so a
test can expire a token by advancing ``SimClock``.
"""

from __future__ import annotations

from typing import Any

import jwt

#: ``iss`` claim of a self-hosted (community edition) Dify.
ISSUER = "SELF_HOSTED"
ACCESS_SUBJECT = "Console API Passport"


class TokenError(Exception):
    """A token failed verification; ``message`` is the text Dify returns in its 401."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TokenSigner:
    """Issue and verify HS256 JWTs with one secret key."""

    def __init__(self, secret_key: str) -> None:
        self._secret_key = secret_key

    def issue_access_token(self, account_id: str, *, expires_at_s: int) -> str:
        """Return an access token ``{user_id, exp, iss, sub}`` expiring at Unix second ``expires_at_s``."""
        claims = {"user_id": account_id, "exp": expires_at_s, "iss": ISSUER, "sub": ACCESS_SUBJECT}
        return jwt.encode(claims, self._secret_key, algorithm="HS256")

    def issue_csrf_token(self, account_id: str, *, expires_at_s: int) -> str:
        """Return a CSRF token ``{exp, sub: account id}``."""
        return jwt.encode({"exp": expires_at_s, "sub": account_id}, self._secret_key, algorithm="HS256")

    def verify(self, token: str, *, now_s: float) -> dict[str, Any]:
        """Return the claims of a valid token.

        Raises ``TokenError`` with Dify's message: "Invalid token signature."
        for a foreign key, "Invalid token." for anything that is not a JWT,
        and "Token has expired." when ``exp <= now_s`` (PyJWT's rule).
        """
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._secret_key, algorithms=["HS256"], options={"verify_exp": False}
            )
        except jwt.InvalidSignatureError as exc:
            raise TokenError("Invalid token signature.") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError("Invalid token.") from exc

        expires_at = claims.get("exp")
        if isinstance(expires_at, (int, float)) and expires_at <= now_s:
            raise TokenError("Token has expired.")
        return claims
