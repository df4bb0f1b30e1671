"""Tests of the health endpoints, their rules and the healthcheck probe."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

import aiohttp
import pytest

from otel_dify.health import (
    HealthServer,
    HealthState,
    check_liveness,
    check_readiness,
    liveness_window_s,
    probe,
    readiness_window_s,
)


class FakeClock:
    """A monotonic clock that tests move by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Rules


@pytest.mark.parametrize(("interval_s", "expected_s"), [(1, 60), (20, 60), (30, 90), (3600, 10800)])
def test_liveness_window_floor(interval_s: float, expected_s: float) -> None:
    assert liveness_window_s(interval_s) == expected_s


def test_readiness_window_three_intervals() -> None:
    assert readiness_window_s(60) == 180


def test_liveness_before_first_heartbeat() -> None:
    state = HealthState(poll_interval_s=10)

    report = check_liveness(state, now=159.0, started=100.0)

    assert report.status_code == 200
    assert report.body == {"status": "ok"}


def test_liveness_no_heartbeat_too_long() -> None:
    state = HealthState(poll_interval_s=10)

    report = check_liveness(state, now=160.0, started=100.0)

    assert report.status_code == 503
    assert report.body["status"] == "stalled"
    assert report.body["heartbeat_age_s"] == 60.0


def test_liveness_recent_heartbeat() -> None:
    state = HealthState(poll_interval_s=10, loop_heartbeat=500.0)

    report = check_liveness(state, now=550.0, started=100.0)

    assert report.status_code == 200


def test_liveness_stale_heartbeat() -> None:
    state = HealthState(poll_interval_s=100, loop_heartbeat=500.0)

    report = check_liveness(state, now=800.5, started=100.0)

    assert report.status_code == 503
    assert report.body["heartbeat_age_s"] == 300.5
    assert "300 s" in str(report.body["reason"])


def test_readiness_before_first_success() -> None:
    report = check_readiness(HealthState(poll_interval_s=60), now=100.0)

    assert report.status_code == 503
    assert report.body == {"status": "not ready", "reason": "no successful poll yet"}


def test_readiness_reason_from_state() -> None:
    state = HealthState(poll_interval_s=60, reason="authentication failed")

    report = check_readiness(state, now=100.0)

    assert report.status_code == 503
    assert report.body["reason"] == "authentication failed"


def test_readiness_fresh_success() -> None:
    state = HealthState(poll_interval_s=60, last_success=100.0)

    report = check_readiness(state, now=279.9)

    assert report.status_code == 200
    assert report.body == {"status": "ready", "last_success_age_s": 179.9}


def test_readiness_stale_success() -> None:
    state = HealthState(poll_interval_s=60, last_success=100.0)

    report = check_readiness(state, now=280.0)

    assert report.status_code == 503
    assert report.body["status"] == "not ready"
    assert report.body["last_success_age_s"] == 180.0
    assert "180 s" in str(report.body["reason"])


def test_readiness_stale_keeps_state_reason() -> None:
    state = HealthState(poll_interval_s=60, last_success=100.0, reason="Dify answered 502")

    report = check_readiness(state, now=400.0)

    assert report.status_code == 503
    assert report.body["reason"] == "Dify answered 502"


# Server


@pytest.fixture
async def served():
    clock = FakeClock()
    state = HealthState(poll_interval_s=10)
    server = HealthServer("127.0.0.1", 0, state, clock=clock)
    await server.start()
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{server.port}") as session:
        yield server, state, clock, session
    await server.stop()


async def get_json(session: aiohttp.ClientSession, path: str) -> tuple[int, dict]:
    async with session.get(path) as response:
        return response.status, await response.json()


async def test_server_binds_free_port(served) -> None:
    server, _, _, _ = served

    assert server.port > 0


async def test_server_healthz_ok(served) -> None:
    _, _, _, session = served

    status, body = await get_json(session, "/healthz")

    assert status == 200
    assert body == {"status": "ok"}


async def test_server_healthz_stalled(served) -> None:
    _, state, clock, session = served
    state.loop_heartbeat = clock.now
    clock.now += 61

    status, body = await get_json(session, "/healthz")

    assert status == 503
    assert body["status"] == "stalled"


async def test_server_readyz_follows_state(served) -> None:
    _, state, clock, session = served

    before_status, before_body = await get_json(session, "/readyz")
    state.last_success = clock.now
    clock.now += 5
    ready_status, ready_body = await get_json(session, "/readyz")
    clock.now += 30
    stale_status, _ = await get_json(session, "/readyz")

    assert before_status == 503
    assert before_body["reason"] == "no successful poll yet"
    assert ready_status == 200
    assert ready_body == {"status": "ready", "last_success_age_s": 5.0}
    assert stale_status == 503


async def test_server_closes_after_response(served) -> None:
    server, _, _, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

    # read() returns only once the server has closed the connection.
    raw = await asyncio.wait_for(reader.read(), 5.0)
    writer.close()

    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close" in head
    assert b"\r\nContent-Type: application/json; charset=utf-8" in head
    assert body == b'{"status": "ok"}'


async def test_server_head_healthz(served) -> None:
    _, _, _, session = served

    async with session.head("/healthz") as response:
        body = await response.read()

    assert response.status == 200
    assert body == b""


async def test_server_unknown_path(served) -> None:
    _, _, _, session = served

    async with session.get("/metrics") as response:
        assert response.status == 404


async def test_server_rejects_post(served) -> None:
    _, _, _, session = served

    async with session.post("/healthz") as response:
        assert response.status == 405


async def test_server_start_twice_rejected(served) -> None:
    server, _, _, _ = served

    with pytest.raises(RuntimeError, match="already started"):
        await server.start()


async def test_server_port_before_start() -> None:
    server = HealthServer("127.0.0.1", 0, HealthState(poll_interval_s=10))

    with pytest.raises(RuntimeError, match="not started"):
        server.port


async def test_server_stop_idempotent() -> None:
    server = HealthServer("127.0.0.1", 0, HealthState(poll_interval_s=10))
    await server.stop()
    await server.start()
    port = server.port

    await server.stop()
    await server.stop()

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


async def test_server_port_in_use(served) -> None:
    server, _, _, _ = served
    second = HealthServer("127.0.0.1", server.port, HealthState(poll_interval_s=10))

    with pytest.raises(OSError):
        await second.start()
    await second.stop()


async def test_server_restart_after_stop() -> None:
    server = HealthServer("127.0.0.1", 0, HealthState(poll_interval_s=10))
    await server.start()
    await server.stop()

    await server.start()
    port = server.port
    await server.stop()

    assert port > 0


# Probe


async def test_probe_ready(served) -> None:
    server, state, clock, _ = served
    state.last_success = clock.now

    code = await asyncio.to_thread(probe, "127.0.0.1", server.port, 2.0, "/readyz")

    assert code == 0


async def test_probe_not_ready(served) -> None:
    server, _, _, _ = served

    code = await asyncio.to_thread(probe, "127.0.0.1", server.port, 2.0, "/readyz")

    assert code == 1


async def test_probe_alive_default_path(served) -> None:
    server, _, _, _ = served

    code = await asyncio.to_thread(probe, "127.0.0.1", server.port, 2.0)

    assert code == 0


async def test_probe_wildcard_host_uses_loopback(served) -> None:
    server, _, _, _ = served

    code = await asyncio.to_thread(probe, "0.0.0.0", server.port, 2.0)

    assert code == 0


def test_probe_connection_refused() -> None:
    assert probe("127.0.0.1", unused_port(), 1.0) == 1


def test_probe_failure_names_url(caplog: pytest.LogCaptureFixture) -> None:
    port = unused_port()

    with caplog.at_level(logging.WARNING, logger="otel_dify.health"):
        probe("127.0.0.1", port, 1.0, "/readyz")

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1
    assert messages[0].startswith(f"health probe of http://127.0.0.1:{port}/readyz failed: ")
    assert "refused" in messages[0].lower()


def test_probe_invalid_answer() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def answer_garbage() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(1024)
                connection.sendall(b"not http\r\n\r\n")

        thread = threading.Thread(target=answer_garbage)
        thread.start()
        code = probe("127.0.0.1", port, 2.0)
        thread.join(timeout=5)

    assert code == 1


def test_server_limits_match_http_module() -> None:
    import inspect

    from otel_dify.runtime.http_server import DEFAULT_MAX_HEAD_BYTES, DEFAULT_READ_TIMEOUT_S

    parameters = inspect.signature(HealthServer).parameters

    assert parameters["read_timeout_s"].default == DEFAULT_READ_TIMEOUT_S
    assert parameters["max_head_bytes"].default == DEFAULT_MAX_HEAD_BYTES
