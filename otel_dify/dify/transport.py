"""HTTP transport to Dify: one aiohttp session, a request timeout, bounded concurrency and retries.

The transport does not handle Dify authentication. It sends the headers the
caller passes, retries connection errors, timeouts and 5xx responses with
exponential back-off and full jitter, and turns every other failure into a
:class:`~otel_dify.dify.errors.DifyError` that names the endpoint template.
It logs each retry at WARNING and leaves logging the final failure to the
caller, which knows whether the failure matters.
"""

from __future__ import annotations

import asyncio
import json as _json
import logging
import random
import ssl as _ssl
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Collection, Mapping

import aiohttp
from multidict import CIMultiDictProxy

from otel_dify import __version__
from otel_dify.dify.cookies import SetCookie, parse_set_cookie_headers
from otel_dify.dify.errors import (
    AuthenticationError,
    DifyError,
    HTTPStatusError,
    InvalidResponseError,
    NotFoundError,
    RequestTimeoutError,
    TransportError,
)

logger = logging.getLogger(__name__)

#: Called once per HTTP attempt with the endpoint template, the HTTP status
#: (None when no response arrived) and the ``error_type`` of the failure
#: (None for a 2xx response with a valid body).
RequestObserver = Callable[[str, int | None, str | None], None]

#: Called with the headers of every HTTP response, before the status is checked.
ResponseHeadersHook = Callable[[CIMultiDictProxy[str]], None]

USER_AGENT = f"otel-dify/{__version__}"

#: Maximum length of the error body text quoted in an exception message, in characters.
MAX_ERROR_DETAIL_CHARS = 300


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is retried.

    ``attempts`` counts every try, the first one included, so 1 means no
    retry. Before retry number n (1-based) the transport sleeps a random
    time between 0 and ``min(max_backoff_s, initial_backoff_s * 2 ** (n - 1))``
    seconds ("full jitter").
    """

    attempts: int = 3
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be at least 1, got {self.attempts}")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError(
                "RetryPolicy back-off times must not be negative, got "
                f"initial_backoff_s={self.initial_backoff_s}, max_backoff_s={self.max_backoff_s}"
            )

    def backoff_cap_s(self, retry_number: int) -> float:
        """Return the longest sleep in seconds before retry ``retry_number`` (1-based)."""
        return min(self.max_backoff_s, self.initial_backoff_s * 2 ** (retry_number - 1))


@dataclass(frozen=True)
class Response:
    """One HTTP response from Dify.

    ``body`` is the parsed JSON body. It is None for an empty body, and also
    for a non-JSON body of a status the caller listed in ``accept_statuses``.
    ``set_cookies`` holds the ``Set-Cookie`` headers in the order received.
    """

    status: int
    headers: CIMultiDictProxy[str]
    set_cookies: tuple[SetCookie, ...]
    body: Any


class _RetryableFailure(Exception):
    """Internal: an attempt failed in a way that a later attempt may not repeat."""

    def __init__(self, error: DifyError, *, request_sent: bool) -> None:
        super().__init__(error.message)
        self.error = error
        # False only when the connection was never established, so the server
        # cannot have acted on the request and even a login may be resent.
        self.request_sent = request_sent


class Transport:
    """Sends HTTP requests to Dify through one aiohttp session.

    ``timeout_s`` bounds each attempt from connecting to reading the whole
    body. At most ``max_concurrency`` attempts run at the same time, and
    back-off sleeps do not hold a slot. ``ssl`` is passed to aiohttp: True verifies
    certificates with the system store, False skips verification, and an
    ``SSLContext`` gives full control. ``sleep`` exists so tests can skip the
    back-off waits.

    Cookies are never stored by the session (``DummyCookieJar``). Callers send
    Dify's session cookies themselves, see :mod:`otel_dify.dify.cookies`.

    Use it as an async context manager or call :meth:`close`. The session is
    created on first use, and :meth:`close` is idempotent. A request after
    :meth:`close` raises RuntimeError.
    """

    def __init__(
        self,
        *,
        timeout_s: float,
        max_concurrency: int,
        ssl: _ssl.SSLContext | bool,
        retry: RetryPolicy = RetryPolicy(),
        observer: RequestObserver | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")

        self._timeout_s = timeout_s
        self._max_concurrency = max_concurrency
        self._ssl = ssl
        self._retry = retry
        self._observer = observer
        self._sleep = sleep
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._random = random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def __aenter__(self) -> Transport:
        self._ensure_session()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the aiohttp session. A second call does nothing."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("Transport is closed; create a new Transport to send more requests")

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=self._max_concurrency),
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        app_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        accept_statuses: Collection[int] = (),
        idempotent: bool = True,
        on_response_headers: ResponseHeadersHook | None = None,
    ) -> Response:
        """Send one request, retrying as the :class:`RetryPolicy` allows, and return the response.

        ``endpoint`` is the template that errors, logs and the observer name
        (``/console/api/apps/{app_id}/statistics/token-costs``). ``json`` is
        sent as a JSON body unless it is None. A 2xx response, or a 4xx status
        in ``accept_statuses``, is returned. Set ``idempotent=False`` for a
        request the server must not see twice (a login, a token refresh):
        it is then retried only when the connection could not be opened.

        Raises:
            RequestTimeoutError: the last attempt timed out.
            TransportError: the last attempt failed to connect or broke off.
            NotFoundError: 404 (the message says whether Dify sent an HTML page).
            AuthenticationError: 401 not listed in ``accept_statuses``.
            HTTPStatusError: any other status that is not 2xx or accepted,
                after the retries for 5xx ran out.
            InvalidResponseError: a 2xx response whose body is not JSON.
        """
        session = self._ensure_session()

        attempt = 1
        while True:
            try:
                return await self._attempt(
                    session,
                    method,
                    url,
                    endpoint=endpoint,
                    app_id=app_id,
                    headers=headers,
                    params=params,
                    json=json,
                    accept_statuses=accept_statuses,
                    on_response_headers=on_response_headers,
                )
            except _RetryableFailure as failure:
                may_resend = idempotent or not failure.request_sent
                if attempt >= self._retry.attempts or not may_resend:
                    raise failure.error from failure.__cause__

                delay_s = self._random.uniform(0.0, self._retry.backoff_cap_s(attempt))
                logger.warning(
                    "Retrying a Dify request after a failure",
                    extra={
                        "endpoint": endpoint,
                        "app_id": app_id,
                        "attempt": attempt,
                        "max_attempts": self._retry.attempts,
                        "delay_s": round(delay_s, 3),
                        "error_type": failure.error.error_type,
                        "http_status": failure.error.status,
                    },
                )
                await self._sleep(delay_s)

                # close() may have run during the sleep: give up with the last error.
                if self._closed:
                    raise failure.error from failure.__cause__
                attempt += 1

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        *,
        endpoint: str,
        app_id: str | None,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        json: Any,
        accept_statuses: Collection[int],
        on_response_headers: ResponseHeadersHook | None,
    ) -> Response:
        async with self._semaphore:
            try:
                # aiohttp copies the headers and params into its own request
                # object, so they are passed without a copy of ours.
                async with session.request(
                    method,
                    url,
                    headers=headers or None,
                    params=params or None,
                    json=json,
                ) as raw_response:
                    status = raw_response.status
                    # Read-only and owned by the response object, so it stays
                    # valid after the connection is released.
                    response_headers = raw_response.headers
                    payload = await raw_response.read()
            except TimeoutError as exc:
                self._observe(endpoint, None, RequestTimeoutError.error_type)
                timeout_error = RequestTimeoutError(
                    f"{method} {endpoint} timed out after {self._timeout_s} s", endpoint=endpoint, app_id=app_id
                )
                raise _RetryableFailure(timeout_error, request_sent=True) from exc
            except aiohttp.ClientSSLError as exc:
                # A certificate or TLS failure repeats on every attempt.
                self._observe(endpoint, None, TransportError.error_type)
                raise TransportError(
                    f"{method} {endpoint} failed in the TLS handshake: {exc}; check the CA "
                    "bundle or the TLS verification setting",
                    endpoint=endpoint,
                    app_id=app_id,
                ) from exc
            except aiohttp.ClientConnectorError as exc:
                self._observe(endpoint, None, TransportError.error_type)
                error = TransportError(
                    f"{method} {endpoint} could not connect: {exc}", endpoint=endpoint, app_id=app_id
                )
                raise _RetryableFailure(error, request_sent=False) from exc
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                self._observe(endpoint, None, TransportError.error_type)
                error = TransportError(
                    f"{method} {endpoint} failed: {_describe_exception(exc)}", endpoint=endpoint, app_id=app_id
                )
                raise _RetryableFailure(error, request_sent=True) from exc
            except aiohttp.ClientError as exc:
                self._observe(endpoint, None, TransportError.error_type)
                raise TransportError(
                    f"{method} {endpoint} failed: {_describe_exception(exc)}", endpoint=endpoint, app_id=app_id
                ) from exc

        if on_response_headers is not None:
            on_response_headers(response_headers)

        return self._build_response(
            method,
            endpoint,
            app_id,
            status,
            response_headers,
            payload,
            accept_statuses,
        )

    def _build_response(
        self,
        method: str,
        endpoint: str,
        app_id: str | None,
        status: int,
        headers: CIMultiDictProxy[str],
        payload: bytes,
        accept_statuses: Collection[int],
    ) -> Response:
        body, is_json = _decode_json(payload)

        if 200 <= status < 300:
            if not is_json:
                self._observe(endpoint, status, InvalidResponseError.error_type)
                raise InvalidResponseError(
                    f"{method} {endpoint} returned HTTP {status} with a body that is not JSON "
                    f"({_describe_content_type(headers)}, {len(payload)} bytes)",
                    endpoint=endpoint,
                    app_id=app_id,
                    status=status,
                )
            self._observe(endpoint, status, None)
            return self._make_response(status, headers, body)

        detail = _describe_error_body(status, body, is_json, headers, len(payload))
        if status >= 500:
            self._observe(endpoint, status, HTTPStatusError.error_type)
            error = HTTPStatusError(
                f"{method} {endpoint} failed with HTTP {status}: {detail}",
                endpoint=endpoint,
                app_id=app_id,
                status=status,
            )
            raise _RetryableFailure(error, request_sent=True)

        if status in accept_statuses:
            self._observe(endpoint, status, _error_type_for_status(status))
            return self._make_response(status, headers, body if is_json else None)

        self._observe(endpoint, status, _error_type_for_status(status))
        message = f"{method} {endpoint} failed with HTTP {status}: {detail}"
        error_class: type[HTTPStatusError | AuthenticationError] = HTTPStatusError
        if status == 404:
            error_class = NotFoundError
        elif status == 401:
            error_class = AuthenticationError
        raise error_class(message, endpoint=endpoint, app_id=app_id, status=status)

    @staticmethod
    def _make_response(status: int, headers: CIMultiDictProxy[str], body: Any) -> Response:
        set_cookies = parse_set_cookie_headers(headers.getall("Set-Cookie")) if "Set-Cookie" in headers else ()
        return Response(status=status, headers=headers, set_cookies=set_cookies, body=body)

    def _observe(self, endpoint: str, status: int | None, error_type: str | None) -> None:
        if self._observer is None:
            return
        try:
            self._observer(endpoint, status, error_type)
        except Exception:
            # A broken self-metric must not fail the Dify request it describes.
            logger.exception("Request observer raised", extra={"endpoint": endpoint})


def _decode_json(payload: bytes) -> tuple[Any, bool]:
    """Return ``(body, True)`` for JSON or an empty payload, and ``(None, False)`` otherwise."""
    # isspace() stops at the first other byte, where strip() would copy the whole body.
    if not payload or payload.isspace():
        return None, True
    try:
        return _json.loads(payload), True
    except (UnicodeDecodeError, ValueError):
        return None, False


def _error_type_for_status(status: int) -> str:
    if status == 404:
        return NotFoundError.error_type
    if status == 401:
        return AuthenticationError.error_type
    return HTTPStatusError.error_type


def _describe_content_type(headers: Mapping[str, str]) -> str:
    return f"Content-Type {headers.get('Content-Type', 'missing')!r}"


def _describe_error_body(status: int, body: Any, is_json: bool, headers: Mapping[str, str], size: int) -> str:
    """Summarise an error body for an exception message without copying arbitrary text.

    Dify error bodies are ``{"code", "message", "status"}``, or
    ``{"result": "fail", "message" | "data"}`` from login and refresh. An
    HTML page, which Dify's router returns for unknown paths and malformed ids,
    is named as such and not quoted.
    """
    if not is_json:
        content_type = headers.get("Content-Type", "")
        if "html" in content_type.lower() and status == 404:
            return (
                f"Dify returned an HTML page instead of JSON ({size} bytes), so the path is unknown "
                "to this Dify version or an id in it is malformed"
            )
        if "html" in content_type.lower():
            return f"Dify returned an HTML page instead of JSON ({size} bytes)"
        return f"the body is not JSON ({_describe_content_type(headers)}, {size} bytes)"

    if not isinstance(body, dict):
        return "no error details in the body"

    parts = [str(body[key]) for key in ("code", "message") if isinstance(body.get(key), str)]
    if not parts and isinstance(body.get("data"), str):
        parts.append(body["data"])
    if not parts:
        return "no error details in the body"
    return ": ".join(parts)[:MAX_ERROR_DETAIL_CHARS]


def _describe_exception(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__
