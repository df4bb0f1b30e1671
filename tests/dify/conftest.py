"""Fixtures for the Dify client tests: a driven clock, a recorded sleep, and loopback servers."""

from __future__ import annotations

from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from otel_dify.dify.transport import RetryPolicy, Transport
from tests.dify.support import FakeClock, RecordedSleep


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorded_sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Start an aiohttp application on 127.0.0.1 and return its base URL (no trailing slash)."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def make_transport(recorded_sleep: RecordedSleep) -> AsyncIterator[Callable[..., Transport]]:
    """Build transports with a recorded sleep and close them after the test."""
    transports: list[Transport] = []

    def build(**options: Any) -> Transport:
        settings: dict[str, Any] = {
            "timeout_s": 5.0,
            "max_concurrency": 4,
            "ssl": False,
            "retry": RetryPolicy(attempts=3, initial_backoff_s=0.5, max_backoff_s=10.0),
            "sleep": recorded_sleep,
        }
        settings.update(options)
        transport = Transport(**settings)
        transports.append(transport)
        return transport

    yield build
    for transport in transports:
        await transport.close()
