"""Fixtures for the Dify client tests: a driven clock, a recorded sleep, and fake Dify servers."""

from __future__ import annotations

from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from otel_dify.dify.auth import AdminKeyCredentials, ConsoleCredentials
from otel_dify.dify.client import DifyClient
from otel_dify.dify.transport import RetryPolicy, Transport
from tests.dify.fake_dify import FakeDify
from tests.dify.support import FakeClock, RecordedSleep, console_credentials


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
async def fake_dify(
    serve: Callable[[web.Application], Awaitable[str]],
) -> Callable[..., Awaitable[tuple[FakeDify, str]]]:
    """Start a :class:`FakeDify` with the given options and return it with its base URL."""

    async def start(profile: str = "1.15", **options: Any) -> tuple[FakeDify, str]:
        fake = FakeDify(profile, **options)
        return fake, await serve(fake.app)

    return start


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


@pytest.fixture
def make_client(make_transport: Callable[..., Transport], clock: FakeClock) -> Callable[..., DifyClient]:
    """Build a DifyClient on a fresh transport with the test clock."""

    def build(
        base_url: str,
        credentials: ConsoleCredentials | AdminKeyCredentials | None = None,
        *,
        transport: Transport | None = None,
        **options: Any,
    ) -> DifyClient:
        return DifyClient(
            base_url,
            credentials or console_credentials(),
            transport or make_transport(),
            clock=clock,
            **options,
        )

    return build
