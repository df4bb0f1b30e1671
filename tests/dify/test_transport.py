"""Tests for the HTTP transport: retries, timeouts, status mapping, concurrency and the observer."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, Awaitable, Callable

import pytest
from aiohttp import web

from otel_dify.dify.errors import (
    AuthenticationError,
    HTTPStatusError,
    InvalidResponseError,
    NotFoundError,
    RequestTimeoutError,
    TransportError,
)
from otel_dify.dify.transport import RetryPolicy, Transport
from tests.dify.support import RecordedSleep
from tests.fixtures_loader import capture

Serve = Callable[[web.Application], Awaitable[str]]
ENDPOINT = "/console/api/apps/{app_id}/statistics/token-costs"


class ObserverLog:
    """Records every observer call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int | None, str | None]] = []

    def __call__(self, endpoint: str, status: int | None, error_type: str | None) -> None:
        self.calls.append((endpoint, status, error_type))


def _app(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


def _status_sequence(*statuses: int) -> tuple[Callable[[web.Request], Awaitable[web.Response]], list[int]]:
    """Return a handler that responds with the given statuses in turn (the last one repeats) and a hit list."""
    hits: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        status = statuses[min(len(hits), len(statuses) - 1)]
        hits.append(status)
        return web.json_response({"data": [], "code": "x", "message": f"status {status}"}, status=status)

    return handler, hits


def _closed_port() -> int:
    """Return a loopback port that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_request_returns_json_response(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    async def handler(request: web.Request) -> web.Response:
        response = web.json_response({"data": [{"date": "2026-12-01"}]}, headers={"X-Version": "1.15.0"})
        response.headers.add("Set-Cookie", "__Host-csrf_token=c.s.rf; Max-Age=3600; Secure; Path=/")
        return response

    url = await serve(_app(handler))
    observer = ObserverLog()
    transport = make_transport(observer=observer)

    response = await transport.request("GET", url + "/x", endpoint=ENDPOINT, app_id="app-1")

    assert response.status == 200
    assert response.body == {"data": [{"date": "2026-12-01"}]}
    assert response.headers["X-Version"] == "1.15.0"
    assert [(c.name, c.value) for c in response.set_cookies] == [("__Host-csrf_token", "c.s.rf")]
    assert observer.calls == [(ENDPOINT, 200, None)]


async def test_request_sends_params_headers_json(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["query"] = dict(request.query)
        seen["header"] = request.headers.get("X-Test")
        seen["body"] = await request.json()
        seen["user_agent"] = request.headers.get("User-Agent", "")
        return web.json_response({})

    url = await serve(_app(handler))
    transport = make_transport()

    await transport.request(
        "POST",
        url + "/x",
        endpoint="/x",
        headers={"X-Test": "1"},
        params={"start": "2026-12-01 00:00"},
        json={"a": 1},
    )

    assert seen["query"] == {"start": "2026-12-01 00:00"}
    assert seen["header"] == "1"
    assert seen["body"] == {"a": 1}
    assert seen["user_agent"].startswith("otel-dify/")


async def test_retry_5xx_then_success(
    serve: Serve, make_transport: Callable[..., Transport], recorded_sleep: RecordedSleep
) -> None:
    handler, hits = _status_sequence(503, 502, 200)
    url = await serve(_app(handler))
    observer = ObserverLog()
    transport = make_transport(observer=observer)

    response = await transport.request("GET", url + "/x", endpoint=ENDPOINT)

    assert response.status == 200
    assert hits == [503, 502, 200]
    assert observer.calls == [(ENDPOINT, 503, "http_status"), (ENDPOINT, 502, "http_status"), (ENDPOINT, 200, None)]
    assert len(recorded_sleep.delays) == 2
    assert 0.0 <= recorded_sleep.delays[0] <= 0.5
    assert 0.0 <= recorded_sleep.delays[1] <= 1.0


async def test_retry_5xx_bounded(
    serve: Serve, make_transport: Callable[..., Transport], recorded_sleep: RecordedSleep
) -> None:
    handler, hits = _status_sequence(500)
    url = await serve(_app(handler))
    transport = make_transport()

    with pytest.raises(HTTPStatusError) as caught:
        await transport.request("GET", url + "/x", endpoint=ENDPOINT, app_id="app-1")

    assert len(hits) == 3
    assert len(recorded_sleep.delays) == 2
    assert caught.value.status == 500
    assert caught.value.endpoint == ENDPOINT
    assert caught.value.app_id == "app-1"


async def test_no_retry_5xx_when_not_idempotent(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    handler, hits = _status_sequence(502)
    url = await serve(_app(handler))
    transport = make_transport()

    with pytest.raises(HTTPStatusError):
        await transport.request("POST", url + "/login", endpoint="/console/api/login", idempotent=False)

    assert hits == [502]


@pytest.mark.parametrize(
    ("status", "error_class"), [(400, HTTPStatusError), (403, HTTPStatusError), (404, NotFoundError)]
)
async def test_no_retry_on_4xx(
    serve: Serve,
    make_transport: Callable[..., Transport],
    recorded_sleep: RecordedSleep,
    status: int,
    error_class: type[Exception],
) -> None:
    handler, hits = _status_sequence(status)
    url = await serve(_app(handler))
    observer = ObserverLog()
    transport = make_transport(observer=observer)

    with pytest.raises(error_class) as caught:
        await transport.request("GET", url + "/x", endpoint=ENDPOINT)

    assert hits == [status]
    assert recorded_sleep.delays == []
    assert len(observer.calls) == 1
    assert caught.value.status == status


async def test_400_is_not_not_found(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    handler, _ = _status_sequence(400)
    url = await serve(_app(handler))

    with pytest.raises(HTTPStatusError) as caught:
        await make_transport().request("GET", url + "/x", endpoint=ENDPOINT)

    assert not isinstance(caught.value, NotFoundError)
    assert "status 400" in caught.value.message


async def test_html_404_is_not_found(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    captured = capture("81_err_non_uuid_app_id")["response"]

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=404, body=captured["body"].encode(), content_type="text/html", charset="utf-8")

    url = await serve(_app(handler))
    observer = ObserverLog()

    with pytest.raises(NotFoundError) as caught:
        await make_transport(observer=observer).request("GET", url + "/x", endpoint=ENDPOINT, app_id="not-a-uuid")

    assert "HTML" in caught.value.message
    assert caught.value.app_id == "not-a-uuid"
    assert observer.calls == [(ENDPOINT, 404, "not_found")]


async def test_json_404_names_dify_code(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    body = capture("81_err_wrong_app_id")["response"]["body"]

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body, status=404)

    url = await serve(_app(handler))

    with pytest.raises(NotFoundError) as caught:
        await make_transport().request("GET", url + "/x", endpoint=ENDPOINT)

    assert "app_not_found" in caught.value.message


async def test_non_json_200_is_invalid(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=200, text="<html>login page</html>", content_type="text/html")

    url = await serve(_app(handler))
    observer = ObserverLog()

    with pytest.raises(InvalidResponseError) as caught:
        await make_transport(observer=observer).request("GET", url + "/x", endpoint=ENDPOINT)

    assert caught.value.status == 200
    assert caught.value.endpoint == ENDPOINT
    assert observer.calls == [(ENDPOINT, 200, "invalid_response")]


async def test_empty_200_body_is_none(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=200)

    url = await serve(_app(handler))

    response = await make_transport().request("GET", url + "/x", endpoint="/x")

    assert response.body is None


async def test_accepted_401_is_returned(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    body = capture("80_err_cookie_no_csrf_header")["response"]["body"]

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body, status=401)

    url = await serve(_app(handler))
    observer = ObserverLog()

    response = await make_transport(observer=observer).request(
        "GET", url + "/x", endpoint=ENDPOINT, accept_statuses=(401,)
    )

    assert response.status == 401
    assert response.body == body
    assert observer.calls == [(ENDPOINT, 401, "authentication")]


async def test_unaccepted_401_raises(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    handler, _ = _status_sequence(401)
    url = await serve(_app(handler))

    with pytest.raises(AuthenticationError) as caught:
        await make_transport().request("GET", url + "/x", endpoint=ENDPOINT)

    assert caught.value.status == 401


async def test_response_headers_hook_sees_errors(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({}, status=404, headers={"X-Version": "1.9.1"})

    url = await serve(_app(handler))
    seen: list[str] = []

    with pytest.raises(NotFoundError):
        await make_transport().request(
            "GET", url + "/x", endpoint="/x", on_response_headers=lambda headers: seen.append(headers["X-Version"])
        )

    assert seen == ["1.9.1"]


async def test_timeout_retried_then_raised(
    serve: Serve, make_transport: Callable[..., Transport], recorded_sleep: RecordedSleep
) -> None:
    release = asyncio.Event()
    hits: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(1)
        await release.wait()
        return web.json_response({})

    url = await serve(_app(handler))
    observer = ObserverLog()
    transport = make_transport(timeout_s=0.05, retry=RetryPolicy(attempts=2), observer=observer)

    try:
        with pytest.raises(RequestTimeoutError) as caught:
            await transport.request("GET", url + "/x", endpoint=ENDPOINT)
    finally:
        release.set()

    assert len(hits) == 2
    assert len(recorded_sleep.delays) == 1
    assert caught.value.endpoint == ENDPOINT
    assert observer.calls == [(ENDPOINT, None, "timeout"), (ENDPOINT, None, "timeout")]


async def test_connection_refused_retried(
    make_transport: Callable[..., Transport], recorded_sleep: RecordedSleep
) -> None:
    observer = ObserverLog()
    transport = make_transport(observer=observer)
    url = f"http://127.0.0.1:{_closed_port()}/console/api/apps"

    with pytest.raises(TransportError) as caught:
        await transport.request("GET", url, endpoint="/console/api/apps")

    assert not isinstance(caught.value, RequestTimeoutError)
    assert caught.value.endpoint == "/console/api/apps"
    assert observer.calls == [("/console/api/apps", None, "transport")] * 3
    assert len(recorded_sleep.delays) == 2


async def test_refused_login_is_resent(make_transport: Callable[..., Transport]) -> None:
    observer = ObserverLog()
    url = f"http://127.0.0.1:{_closed_port()}/console/api/login"

    with pytest.raises(TransportError):
        await make_transport(observer=observer).request(
            "POST", url, endpoint="/console/api/login", json={}, idempotent=False
        )

    # The connection never opened, so the server cannot have counted a login.
    assert len(observer.calls) == 3


def test_backoff_cap_grows_to_max() -> None:
    policy = RetryPolicy(attempts=10, initial_backoff_s=0.5, max_backoff_s=3.0)

    assert [policy.backoff_cap_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_retry_policy_rejects_zero_attempts() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


def test_transport_rejects_bad_limits() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        Transport(timeout_s=0, max_concurrency=1, ssl=False)
    with pytest.raises(ValueError, match="max_concurrency"):
        Transport(timeout_s=1, max_concurrency=0, ssl=False)


async def test_concurrency_is_bounded(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    in_flight = 0
    peak = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return web.json_response({})

    url = await serve(_app(handler))
    transport = make_transport(max_concurrency=2)

    await asyncio.gather(*(transport.request("GET", url + "/x", endpoint="/x") for _ in range(6)))

    assert peak == 2


async def test_backoff_sleep_frees_slot(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    handler, hits = _status_sequence(503, 200, 200)
    url = await serve(_app(handler))
    sleeping = asyncio.Event()
    wake = asyncio.Event()

    async def blocking_sleep(delay: float) -> None:
        sleeping.set()
        await wake.wait()

    transport = make_transport(max_concurrency=1, sleep=blocking_sleep)
    first = asyncio.create_task(transport.request("GET", url + "/x", endpoint="/x"))
    await sleeping.wait()

    # The only slot must be free while the first request sleeps before its retry.
    second = await asyncio.wait_for(transport.request("GET", url + "/x", endpoint="/x"), timeout=2)
    wake.set()
    first_response = await first

    assert second.status == 200
    assert first_response.status == 200
    assert hits == [503, 200, 200]


async def test_cookies_not_stored_by_session(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({})
        response.headers.add("Set-Cookie", "access_token=abc; Path=/")
        return response

    url = await serve(_app(handler))
    transport = make_transport()

    await transport.request("GET", url + "/x", endpoint="/x")
    await transport.request("GET", url + "/x", endpoint="/x")

    assert seen == [None, None]


async def test_observer_error_does_not_fail_request(serve: Serve, make_transport: Callable[..., Transport]) -> None:
    handler, _ = _status_sequence(200)
    url = await serve(_app(handler))

    def broken_observer(endpoint: str, status: int | None, error_type: str | None) -> None:
        raise RuntimeError("observer bug")

    response = await make_transport(observer=broken_observer).request("GET", url + "/x", endpoint="/x")

    assert response.status == 200


async def test_close_is_idempotent(make_transport: Callable[..., Transport]) -> None:
    transport = make_transport()
    async with transport:
        pass

    await transport.close()

    with pytest.raises(RuntimeError, match="closed"):
        await transport.request("GET", "http://127.0.0.1:1/x", endpoint="/x")


async def test_retry_logged_at_warning(
    serve: Serve, make_transport: Callable[..., Transport], caplog: pytest.LogCaptureFixture
) -> None:
    handler, _ = _status_sequence(503, 200)
    url = await serve(_app(handler))
    caplog.set_level(logging.WARNING, logger="otel_dify.dify.transport")

    await make_transport().request("GET", url + "/x", endpoint=ENDPOINT, app_id="app-1")

    records = [r for r in caplog.records if r.name == "otel_dify.dify.transport"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert records[0].endpoint == ENDPOINT
    assert records[0].attempt == 1
    assert records[0].http_status == 503
    assert 0.0 <= records[0].delay_s <= 0.5
    assert records[0].app_id == "app-1"
