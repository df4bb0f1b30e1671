"""E-mail and password login to Dify's console API, with refresh and lock-out safety."""

from __future__ import annotations

import asyncio
import logging
import time
from email.utils import parsedate_to_datetime
from typing import Any, Callable

from otel_dify.dify.auth.backoff import LoginBackoff
from otel_dify.dify.auth.credentials import ConsoleCredentials
from otel_dify.dify.auth.password import PasswordEncodingSelector, WireEncoding, encode_password
from otel_dify.dify.auth.session import Authorization, ConsoleSession, apply_refresh, session_from_login
from otel_dify.dify.errors import (
    AuthenticationError,
    HTTPStatusError,
    InvalidResponseError,
    LoginLockedError,
)
from otel_dify.dify.models import LoginGeneration
from otel_dify.dify.transport import Response, Transport
from otel_dify.dify.version import ServerVersion

logger = logging.getLogger(__name__)

LOGIN_ENDPOINT = "/console/api/login"
REFRESH_ENDPOINT = "/console/api/refresh-token"
SETUP_ENDPOINT = "/console/api/setup"

#: Login statuses that mean the credentials or the account were rejected.
_LOGIN_REJECTION_STATUSES = frozenset({400, 401, 403, 429})
_REFRESH_REJECTION_STATUSES = frozenset({400, 401, 403})


class ConsoleAuthenticator:
    """Keeps one console session alive: logs in, refreshes, and backs off after failures.

    ``console_url`` is the site root plus ``/console/api``. ``clock`` returns
    monotonic seconds and drives token renewal and the login back-off.
    ``wall_clock`` returns Unix seconds; it converts a JWT ``exp`` into a
    lifetime when a response has no ``Date`` header. All renewals run under one lock, so concurrent requests cause
    one login or refresh, never several: a refresh rotates the refresh token,
    and two refreshes in parallel would invalidate each other.

    The session is never logged out: a logout deletes the account's most
    recently issued refresh token, which may belong to a human using the same
    account.
    """

    def __init__(
        self,
        console_url: str,
        credentials: ConsoleCredentials,
        transport: Transport,
        server_version: ServerVersion,
        *,
        auth_backoff_s: float,
        clock: Callable[[], float],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._console_url = console_url
        self._credentials = credentials
        self._transport = transport
        self._server_version = server_version
        self._clock = clock
        self._wall_clock = wall_clock
        self._backoff = LoginBackoff(auth_backoff_s, clock)
        self._encodings = PasswordEncodingSelector(credentials.password_encoding)
        self._lock = asyncio.Lock()
        self._session: ConsoleSession | None = None
        self._serial = 0
        self._version_probed = False
        self.generation: LoginGeneration | None = None

    #: A 401 triggers a refresh or a new login.
    can_reauthorize = True

    @property
    def backoff(self) -> LoginBackoff:
        """The pause that follows a failed login."""
        return self._backoff

    def forget(self) -> None:
        """Drop the session without logging out; the next request logs in again."""
        self._session = None

    async def login(self) -> None:
        """Make sure a usable session exists: log in, or refresh one that is about to expire.

        A second call while the session is fresh sends nothing.

        Raises:
            AuthBackoffError: a login is needed but the back-off still runs.
            LoginLockedError: Dify returned 429 because of too many failed logins.
            AuthenticationError: Dify rejected the credentials or the account.
        """
        await self.authorize()

    async def authorize(self) -> Authorization:
        """Return the headers for the next console request, logging in or refreshing first if needed."""
        async with self._lock:
            if self._session is None:
                await self._login_locked()
            elif self._session.renewal_due(self._clock()):
                logger.debug("Renewing the Dify session before the access token expires")
                await self._renew_locked()
            return self._authorization()

    async def reauthorize(self, stale: Authorization) -> Authorization:
        """Return fresh headers after a request with ``stale`` got 401.

        When another request renewed the session since ``stale`` was issued,
        its headers are returned without a request. Otherwise the session is
        refreshed, or, when it cannot be, a new login runs.
        """
        async with self._lock:
            if self._session is not None and self._serial != stale.serial:
                return self._authorization()

            if self._session is None:
                await self._login_locked()
            else:
                await self._renew_locked()
            return self._authorization()

    def _authorization(self) -> Authorization:
        assert self._session is not None
        return Authorization(headers=self._session.request_headers(), serial=self._serial)

    def _install(self, session: ConsoleSession) -> None:
        self._session = session
        self._serial += 1
        self.generation = session.generation

    async def _renew_locked(self) -> None:
        assert self._session is not None
        if self._session.can_refresh and await self._refresh_locked(self._session):
            self._serial += 1
            return

        # Drop the dead session first: if the login fails, later calls must
        # meet the back-off at once instead of sending requests that get 401.
        self._session = None
        await self._login_locked()

    async def _refresh_locked(self, session: ConsoleSession) -> bool:
        """Refresh ``session`` in place; return False when Dify rejected the refresh token."""
        headers, body = session.refresh_request()
        response = await self._transport.request(
            "POST",
            self._console_url + "/refresh-token",
            endpoint=REFRESH_ENDPOINT,
            headers=headers,
            json=body,
            accept_statuses=_REFRESH_REJECTION_STATUSES,
            idempotent=False,
            on_response_headers=self._server_version.update_from_headers,
        )

        body_map = response.body if isinstance(response.body, dict) else {}
        refreshed = (
            response.status == 200
            and body_map.get("result") == "success"
            and apply_refresh(
                session,
                body_map,
                response.set_cookies,
                now=self._clock(),
                wall_now=self._server_unix_time(response),
            )
        )
        if refreshed:
            logger.debug("Refreshed the Dify session", extra={"endpoint": REFRESH_ENDPOINT})
            return True

        # Dify rejects a refresh token that was rotated out or deleted; a logout
        # by anyone on the same account deletes the account's latest one.
        logger.warning(
            "Dify rejected the session refresh; logging in again",
            extra={"endpoint": REFRESH_ENDPOINT, "http_status": response.status},
        )
        return False

    async def _login_locked(self) -> None:
        self._backoff.check()

        if self._credentials.password_encoding == "auto" and self._server_version.parsed is None:
            await self._probe_version()

        encoding = self._encodings.choose(self._server_version.parsed)
        while True:
            response = await self._post_login(encoding)
            body = response.body if isinstance(response.body, dict) else {}

            if response.status == 200 and body.get("result") == "success":
                session = session_from_login(
                    body,
                    response.set_cookies,
                    now=self._clock(),
                    wall_now=self._server_unix_time(response),
                    endpoint=LOGIN_ENDPOINT,
                )
                self._encodings.record_success(encoding)
                self._backoff.reset()
                self._install(session)
                logger.info(
                    "Logged in to Dify",
                    extra={
                        "endpoint": LOGIN_ENDPOINT,
                        "email_domain": self._credentials.email_domain,
                        "login_generation": session.generation.value,
                        "server_version": self._server_version.text,
                    },
                )
                return

            message = self._redact(_login_failure_message(response, body))
            if response.status == 401:
                retry_encoding = self._encodings.fallback_after_rejection(
                    encoding, self._server_version.parsed, message
                )
                if retry_encoding is not None:
                    logger.warning(
                        "Dify rejected the login; retrying once with the other password encoding",
                        extra={
                            "endpoint": LOGIN_ENDPOINT,
                            "email_domain": self._credentials.email_domain,
                            "password_encoding": retry_encoding,
                            "rejected_password_encoding": encoding,
                        },
                    )
                    encoding = retry_encoding
                    continue

            raise self._fail_login(response, message, encoding)

    async def _post_login(self, encoding: WireEncoding) -> Response:
        password = encode_password(self._credentials.password.get_secret_value(), encoding)
        response = await self._transport.request(
            "POST",
            self._console_url + "/login",
            endpoint=LOGIN_ENDPOINT,
            json={"email": self._credentials.email, "password": password, "remember_me": True},
            accept_statuses=_LOGIN_REJECTION_STATUSES,
            idempotent=False,
            on_response_headers=self._server_version.update_from_headers,
        )

        if response.status == 200 and not isinstance(response.body, dict):
            raise InvalidResponseError(
                "The login response body is not a JSON object", endpoint=LOGIN_ENDPOINT, status=200
            )
        return response

    def _fail_login(self, response: Response, message: str, encoding: WireEncoding) -> AuthenticationError:
        """Start the back-off, log the failure once and return the error to raise."""
        status = response.status
        retry_after_s = _retry_after_s(response) if status == 429 else None
        retry_at = self._backoff.record_failure(
            at_least_s=retry_after_s or 0.0, reason=f"Dify answered HTTP {status}: {message}"
        )
        backoff_s = retry_at - self._clock()

        hint = "check the configured e-mail and password"
        if status == 200:
            hint = "the login itself was accepted, so check that the account belongs to a workspace"
        elif status == 429:
            hint = (
                "Dify locked the e-mail after too many failed logins and unlocks it after "
                "LOGIN_LOCKOUT_DURATION (24 h by default)"
            )
        elif status == 403:
            hint = "e-mail and password login may be disabled on this Dify (ENABLE_EMAIL_PASSWORD_LOGIN)"
        elif status == 401 and encoding == "plain" and "encrypted" in message.lower():
            hint = "this Dify expects a Base64 password; set the password encoding to base64 or auto"

        logger.error(
            "Dify rejected the console login",
            extra={
                "endpoint": LOGIN_ENDPOINT,
                "http_status": status,
                "email_domain": self._credentials.email_domain,
                "dify_message": message,
                "password_encoding": encoding,
                "retry_in_s": round(backoff_s),
            },
        )

        text = (
            f"Dify rejected the console login for an account at {self._credentials.email_domain} "
            f"(HTTP {status}: {message}); {hint}. Next attempt in {backoff_s:.0f} s."
        )
        error_class = LoginLockedError if status == 429 else AuthenticationError
        return error_class(text, endpoint=LOGIN_ENDPOINT, status=status)

    def _redact(self, text: str) -> str:
        """Replace the password (plain and Base64) and the e-mail in a Dify message."""
        password = self._credentials.password.get_secret_value()
        for secret in (password, encode_password(password, "base64")):
            text = text.replace(secret, "<password>")
        return text.replace(self._credentials.email, "<e-mail>")

    def _server_unix_time(self, response: Response) -> float:
        """Return the response's ``Date`` header in Unix seconds, or this host's time without one.

        A JWT ``exp`` comes from the server's clock, so measuring it against
        the server's ``Date`` keeps a clock skew between the hosts out of the
        token lifetime.
        """
        date_header = response.headers.get("Date")
        if date_header:
            try:
                return parsedate_to_datetime(date_header).timestamp()
            except (TypeError, ValueError, IndexError):
                logger.debug("Ignoring an unparseable Date header", extra={"date_header": date_header})
        return self._wall_clock()

    async def _probe_version(self) -> None:
        """Read ``X-Version`` from an unauthenticated request; failures only mean an unknown version."""
        if self._version_probed:
            return
        self._version_probed = True

        try:
            await self._transport.request(
                "GET",
                self._console_url + "/setup",
                endpoint=SETUP_ENDPOINT,
                accept_statuses=range(400, 500),
                on_response_headers=self._server_version.update_from_headers,
            )
        except (HTTPStatusError, InvalidResponseError) as exc:
            logger.info(
                "Could not read the Dify version before login",
                extra=exc.log_context(),
            )

        logger.debug(
            "Dify version before login",
            extra={"endpoint": SETUP_ENDPOINT, "server_version": self._server_version.text},
        )


def _login_failure_message(response: Response, body: dict[str, Any]) -> str:
    """Return Dify's reason for a failed login, from ``message`` or a ``fail`` result's ``data``.

    The message of a 400 ``invalid_param`` is left out: Dify 1.11+ quotes the
    request body in it, password included, in Python ``repr`` form that a
    plain search and replace does not catch.
    """
    if body.get("code") == "invalid_param":
        return "invalid_param: Dify rejected the login request body as invalid"
    for key in ("message", "data", "code"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value[:300]
    return f"no reason given (HTTP {response.status})"


def _retry_after_s(response: Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
