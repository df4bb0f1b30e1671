"""Console authentication: login, refresh, logout and the per-request checks.

The behaviour follows Dify's ``controllers/console/auth`` and
``extensions/ext_login`` for each version profile:

* 0.9.1 returns one 30-day JWT in the login body; 0.9.2 to 1.9.1 return an
  access and refresh token pair; 1.9.2+ set three cookies and require the CSRF
  token (cookie plus ``X-CSRF-Token`` header) on every console request.
* Refresh tokens are opaque and rotate. The account keeps a pointer to its
  most recently issued refresh token, and logout deletes the token that
  pointer names, which need not be the caller's.
* More than ``max_login_errors`` failed logins lock the e-mail (429) until
  ``login_lockout_s`` after the last failure; a successful login resets it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from otel_dify.dify.models import LoginGeneration
from otel_dify.simulator.clock import SimClock
from otel_dify.simulator.cookies import ACCESS_TOKEN, CSRF_TOKEN, REFRESH_TOKEN, clear_cookie, cookie_name, set_cookie
from otel_dify.simulator.dataset import Dataset
from otel_dify.simulator.errors import DifyHTTPError, FieldError, invalid_param, json_error, unauthorized
from otel_dify.simulator.login_payload import parse_login_payload
from otel_dify.simulator.profiles import VersionProfile
from otel_dify.simulator.records import Account, Workspace
from otel_dify.simulator.tokens import TokenError, TokenSigner

logger = logging.getLogger(__name__)

THIRTY_DAYS_S = 30 * 86400
CSRF_FAILURE = "CSRF token is missing or invalid."


@dataclass(frozen=True)
class AuthSettings:
    """Server-side settings that Dify reads from its environment.

    ``access_token_ttl_s`` is ``ACCESS_TOKEN_EXPIRE_MINUTES`` x 60 and also the
    CSRF token lifetime. ``secure_cookies`` imitates https console URLs:
    ``__Host-`` cookie names and the ``Secure`` flag, even over plain HTTP.
    ``admin_api_key`` enables ``ADMIN_API_KEY`` where the profile supports it.
    """

    access_token_ttl_s: int = 3600
    refresh_token_ttl_s: int = THIRTY_DAYS_S
    login_lockout_s: int = 86400
    max_login_errors: int = 5
    secure_cookies: bool = False
    admin_api_key: str | None = None


@dataclass(frozen=True)
class Credentials:
    """Credentials of one request: raw header values, cookies and the ``_token`` query value."""

    authorization: str | None = None
    cookies: Mapping[str, str] = field(default_factory=dict)
    csrf_header: str | None = None
    workspace_header: str | None = None
    query_token: str | None = None


@dataclass(frozen=True)
class Principal:
    """The account a request acts as, in which workspace, and how it proved it.

    ``auth_kind`` is ``cookie``, ``bearer``, ``query`` or ``admin-key``.
    """

    account: Account
    workspace: Workspace
    auth_kind: str


@dataclass(frozen=True)
class AuthResponse:
    """Result of a login, refresh or logout: JSON body plus ``Set-Cookie`` values."""

    body: dict[str, Any]
    set_cookies: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SessionTokens:
    """Tokens of one session; ``refresh_token`` and ``csrf_token`` are None where the profile has none."""

    access_token: str
    refresh_token: str | None
    csrf_token: str | None


class AuthService:
    """Login state of one simulator: refresh tokens, lockout counters, signing key."""

    def __init__(
        self, dataset: Dataset, clock: SimClock, profile: VersionProfile, settings: AuthSettings, secret_key: str
    ) -> None:
        self._dataset = dataset
        self._clock = clock
        self._profile = profile
        self.settings = settings
        self.signer = TokenSigner(secret_key)
        # refresh token -> (account id, expiry in Unix seconds)
        self._refresh_tokens: dict[str, tuple[str, float]] = {}
        # account id -> its most recently issued refresh token
        self._latest_refresh: dict[str, str] = {}
        # lower-cased e-mail -> (failure count, expiry in Unix seconds)
        self._login_errors: dict[str, tuple[int, float]] = {}

    # -- login, refresh, logout ------------------------------------------

    def login(self, payload: Any) -> AuthResponse:
        """Check a login body and start a session.

        Raises ``DifyHTTPError``: 401 ``authentication_failed`` for a bad
        e-mail or password (counted towards the lockout) or an undecodable
        Base64 password, 429 ``email_code_login_limit`` while locked, 400
        ``invalid_param`` for a missing field.
        """
        email, password = parse_login_payload(payload, self._profile)

        key = email.lower()
        if self.failed_login_count(key) > self.settings.max_login_errors:
            logger.info("login rejected: e-mail locked", extra={"endpoint": "/console/api/login", "status": 429})
            raise json_error(429, "email_code_login_limit", "Too many incorrect password attempts. Please try again later.")

        # NOTE: the 0.9.1 and 1.9.x profiles reuse the 1.x lockout and error
        # codes; their responses to a bad password were not verified.
        account = self._dataset.account_by_email(email)
        if account is None or not _same_secret(account.password, password):
            self._record_login_error(key)
            logger.info("login rejected: bad credentials", extra={"endpoint": "/console/api/login", "status": 401})
            raise json_error(401, "authentication_failed", "Invalid email or password.")

        self._login_errors.pop(key, None)
        tokens = self.issue_session(account)
        logger.info("login succeeded", extra={"account_id": account.id, "endpoint": "/console/api/login"})
        return self._session_response(tokens, login=True)

    def refresh(self, *, cookies: Mapping[str, str], payload: Any) -> AuthResponse:
        """Rotate a refresh token: the old one stops working, a new session starts.

        1.9.2+ read the refresh cookie and take no body; 0.9.2 to 1.9.1 read
        ``{"refresh_token"}`` from the JSON body. Raises ``DifyHTTPError`` 401
        with Dify's ``{"result": "fail", ...}`` body when the token is missing
        or unknown.
        """
        if self._profile.uses_csrf:
            token = cookies.get(cookie_name(REFRESH_TOKEN, self.settings.secure_cookies))
            if not token:
                raise DifyHTTPError(401, {"result": "fail", "message": "No refresh token provided"})
        else:
            token = payload.get("refresh_token") if isinstance(payload, dict) else None
            if not isinstance(token, str):
                missing = FieldError(
                    "refresh_token", "Field required", "missing", payload, "Missing required parameter in the JSON body"
                )
                raise invalid_param(self._profile, "RefreshTokenPayload", [missing])

        account_id = self._account_of_refresh_token(token)
        if account_id is None:
            logger.info("refresh rejected: unknown token", extra={"endpoint": "/console/api/refresh-token"})
            key = "message" if self._profile.uses_csrf else "data"
            raise DifyHTTPError(401, {"result": "fail", key: "Invalid refresh token"})

        self._delete_refresh_token(token, account_id)
        tokens = self.issue_session(self._dataset.accounts[account_id], record_login=False)
        return self._session_response(tokens, login=False)

    def logout(self, principal: Principal) -> AuthResponse:
        """End the account's session the way Dify does.

        Deletes the refresh token that the account's pointer names, which is
        its most recently issued one even when another client uses it.
        Access tokens stay valid until they expire. From 1.9.2 the response
        also carries cookies that clear the session.
        """
        latest = self._latest_refresh.get(principal.account.id)
        if latest is not None:
            self._delete_refresh_token(latest, principal.account.id)
        logger.info("logout", extra={"account_id": principal.account.id, "endpoint": "/console/api/logout"})

        if not self._profile.uses_csrf:
            return AuthResponse({"result": "success"})
        secure = self.settings.secure_cookies
        cleared = [
            clear_cookie(cookie_name(ACCESS_TOKEN, secure), http_only=True, secure=secure),
            clear_cookie(cookie_name(REFRESH_TOKEN, secure), http_only=True, secure=secure),
            clear_cookie(cookie_name(CSRF_TOKEN, secure), http_only=False, secure=secure),
        ]
        return AuthResponse({"result": "success"}, cleared)

    def issue_session(self, account: Account, *, record_login: bool = True) -> SessionTokens:
        """Issue the tokens a successful login hands out under the profile.

        Tests use it to skip the login request. Every call stores a new
        refresh token and moves the account's pointer to it. With
        ``record_login`` (a login, not a refresh) it also sets the account's
        ``last_login_at``.
        """
        if record_login:
            account.last_login_at = self._clock.now()
        now_s = self._clock.timestamp()
        if self._profile.thirty_day_access_token:
            access = self.signer.issue_access_token(account.id, expires_at_s=int(now_s + THIRTY_DAYS_S))
            return SessionTokens(access, None, None)

        expires_at = int(now_s + self.settings.access_token_ttl_s)
        access = self.signer.issue_access_token(account.id, expires_at_s=expires_at)
        refresh = secrets.token_hex(64)
        self._refresh_tokens[refresh] = (account.id, now_s + self.settings.refresh_token_ttl_s)
        self._latest_refresh[account.id] = refresh
        csrf = self.signer.issue_csrf_token(account.id, expires_at_s=expires_at) if self._profile.uses_csrf else None
        return SessionTokens(access, refresh, csrf)

    def failed_login_count(self, email: str) -> int:
        """Return the live failure counter of an e-mail (0 once it expired)."""
        entry = self._login_errors.get(email.lower())
        if entry is None or entry[1] <= self._clock.timestamp():
            return 0
        return entry[0]

    # -- per-request checks ----------------------------------------------

    def authenticate(self, credentials: Credentials, *, check_csrf: bool = True) -> Principal:
        """Return who a console request acts as, or raise ``DifyHTTPError`` 401.

        The access token comes from the access cookie (1.9.2+) or else the
        Bearer header, or the ``_token`` query value before 1.9.2. With the
        profile's CSRF rule, ``check_csrf`` also demands the CSRF header equal
        to the CSRF cookie, holding an unexpired JWT for the same account.
        """
        token, kind = self._extract_access_token(credentials)
        if not token:
            raise unauthorized("Invalid Authorization token.")

        principal = self._admin_key_principal(token, credentials)
        if principal is not None:
            return principal

        try:
            claims = self.signer.verify(token, now_s=self._clock.timestamp())
        except TokenError as exc:
            raise unauthorized(exc.message) from exc
        account = self._dataset.accounts.get(str(claims.get("user_id")))
        if account is None:
            # Flask-Login's unauthorized handler returns no "status" field.
            raise DifyHTTPError(401, {"code": "unauthorized", "message": "Unauthorized."})

        if check_csrf and self._profile.uses_csrf:
            self._check_csrf(credentials, account.id)
        return Principal(account, self._dataset.current_workspace(account.id), kind)

    def _extract_access_token(self, credentials: Credentials) -> tuple[str | None, str]:
        if self._profile.uses_csrf:
            cookie = credentials.cookies.get(cookie_name(ACCESS_TOKEN, self.settings.secure_cookies))
            if cookie:
                return cookie, "cookie"
            return _bearer_token(credentials.authorization), "bearer"

        # Before 1.9.2 a malformed Authorization header is its own error.
        if credentials.authorization:
            token = _bearer_token(credentials.authorization)
            if token is None:
                raise unauthorized("Invalid Authorization header format. Expected 'Bearer <api-key>' format.")
            return token, "bearer"
        return credentials.query_token, "query"

    def _admin_key_principal(self, token: str, credentials: Credentials) -> Principal | None:
        admin_key = self.settings.admin_api_key
        if not (self._profile.admin_api_key and admin_key and _same_secret(token, admin_key)):
            return None
        workspace = self._dataset.workspaces.get(credentials.workspace_header or "")
        if workspace is None:
            # Dify then verifies the key as a JWT, which fails with "Invalid token.".
            return None
        return Principal(self._dataset.owner_of(workspace.id), workspace, "admin-key")

    def _check_csrf(self, credentials: Credentials, account_id: str) -> None:
        header = credentials.csrf_header
        cookie = credentials.cookies.get(cookie_name(CSRF_TOKEN, self.settings.secure_cookies))
        if not header or header != cookie:
            raise unauthorized(CSRF_FAILURE)
        try:
            claims = self.signer.verify(header, now_s=self._clock.timestamp())
        except TokenError as exc:
            raise unauthorized(CSRF_FAILURE) from exc
        if claims.get("sub") != account_id or "exp" not in claims:
            raise unauthorized(CSRF_FAILURE)

    # -- helpers ---------------------------------------------------------

    def _record_login_error(self, key: str) -> None:
        # Each failure stores count + 1 with a fresh TTL, like Redis SETEX in Dify.
        count = self.failed_login_count(key) + 1
        self._login_errors[key] = (count, self._clock.timestamp() + self.settings.login_lockout_s)

    def _account_of_refresh_token(self, token: str) -> str | None:
        entry = self._refresh_tokens.get(token)
        if entry is None:
            return None
        if entry[1] <= self._clock.timestamp():
            self._refresh_tokens.pop(token, None)
            return None
        return entry[0]

    def _delete_refresh_token(self, token: str, account_id: str) -> None:
        # Dify deletes the token and the account's pointer together, even
        # when the pointer names a newer token.
        self._refresh_tokens.pop(token, None)
        self._latest_refresh.pop(account_id, None)

    def _session_response(self, tokens: SessionTokens, *, login: bool) -> AuthResponse:
        generation = self._profile.login_generation
        if generation is LoginGeneration.BODY_TOKEN:
            return AuthResponse({"result": "success", "data": tokens.access_token})
        if generation is LoginGeneration.TOKEN_PAIR:
            pair = {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token}
            return AuthResponse({"result": "success", "data": pair})

        now = self._clock.now()
        secure = self.settings.secure_cookies
        ttl = self.settings.access_token_ttl_s
        access = set_cookie(
            cookie_name(ACCESS_TOKEN, secure), tokens.access_token, max_age_s=ttl, now=now, http_only=True, secure=secure
        )
        refresh = set_cookie(
            cookie_name(REFRESH_TOKEN, secure),
            tokens.refresh_token or "",
            max_age_s=self.settings.refresh_token_ttl_s,
            now=now,
            http_only=True,
            secure=secure,
        )
        csrf = set_cookie(
            cookie_name(CSRF_TOKEN, secure), tokens.csrf_token or "", max_age_s=ttl, now=now, http_only=False, secure=secure
        )
        # Login sets access, refresh, csrf. Refresh sets csrf, access, refresh.
        cookies = [access, refresh, csrf] if login else [csrf, access, refresh]
        return AuthResponse({"result": "success"}, cookies)


def _same_secret(presented: str, expected: str) -> bool:
    # compare_digest rejects non-ASCII str, so compare the UTF-8 bytes.
    return secrets.compare_digest(presented.encode(), expected.encode())


def _bearer_token(header: str | None) -> str | None:
    if not header or " " not in header:
        return None
    scheme, token = header.split(None, 1)
    return token if scheme.lower() == "bearer" else None
