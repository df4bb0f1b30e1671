"""The statistics poll runs its requests through a worker pool sized from the transport's request slots."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from otel_dify import catalog
from otel_dify.collect.sources import Shape, sources_for
from otel_dify.collect.workspace import CollectionOptions, WorkspaceCollector
from otel_dify.concurrency import pool_size
from otel_dify.dify.errors import HTTPStatusError
from otel_dify.dify.models import App, AppMode, Profile, Workspace

NOW = datetime(2026, 12, 4, 19, 30, tzinfo=timezone.utc)
ENABLED = frozenset(spec.name for spec in catalog.enabled_metrics((), ()))


class CountingClient:
    """A statistics client whose requests each yield a few times, counting how many are in flight at once."""

    def __init__(self, apps: list[App], *, failing_app: str | None = None) -> None:
        self.apps = apps
        self.failing_app = failing_app
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: list[tuple[str, str]] = []

    async def login(self) -> None:
        return None

    async def get_profile(self) -> Profile:
        return Profile(account_id="account-1", timezone="UTC")

    async def get_workspace(self) -> Workspace:
        return Workspace(id="workspace-1", name="Main")

    async def list_apps(self) -> list[App]:
        return self.apps

    async def get_app_statistic(
        self, app_id: str, name: str, *, start: str | None, end: str | None
    ) -> list[dict[str, Any]]:
        return await self._request(app_id, name)

    async def get_workflow_statistic(
        self, app_id: str, name: str, *, start: str | None, end: str | None
    ) -> list[dict[str, Any]]:
        return await self._request(app_id, name)

    async def _request(self, app_id: str, name: str) -> list[dict[str, Any]]:
        self.requests.append((app_id, name))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            if app_id == self.failing_app:
                raise HTTPStatusError(
                    "statistics failed with HTTP 400", endpoint="/statistics", app_id=app_id, status=400
                )
            return []
        finally:
            self.in_flight -= 1


def chat_apps(count: int) -> list[App]:
    return [App(id=f"app-{number}", name=f"App {number}", mode=AppMode.CHAT.value) for number in range(count)]


def expected_requests(apps: list[App]) -> int:
    # The first poll reads each total's history and then its trailing days: two requests per total source.
    total = 0
    for app in apps:
        for source in sources_for(app.mode, ENABLED):
            total += 2 if source.shape is Shape.TOTAL else 1
    return total


async def test_poll_in_flight_bounded_by_pool() -> None:
    apps = chat_apps(40)
    client = CountingClient(apps)
    collector = WorkspaceCollector(client, CollectionOptions(enabled_metrics=ENABLED, max_concurrency=3))

    result = await collector.poll(NOW)

    assert result.succeeded
    assert client.max_in_flight == pool_size(3)
    assert len(client.requests) == expected_requests(apps)


async def test_poll_requests_in_app_order() -> None:
    apps = chat_apps(20)
    client = CountingClient(apps)
    collector = WorkspaceCollector(client, CollectionOptions(enabled_metrics=ENABLED, max_concurrency=1))

    await collector.poll(NOW)

    apps_in_request_order: list[str] = []
    for app_id, _name in client.requests:
        if app_id not in apps_in_request_order:
            apps_in_request_order.append(app_id)
    assert apps_in_request_order == [app.id for app in apps]


async def test_poll_failure_counted_per_request() -> None:
    apps = chat_apps(10)
    client = CountingClient(apps, failing_app="app-3")
    errors: list[tuple[str, str]] = []
    collector = WorkspaceCollector(
        client,
        CollectionOptions(enabled_metrics=ENABLED),
        on_error=lambda workspace_id, error_type: errors.append((workspace_id, error_type)),
    )

    result = await collector.poll(NOW)

    failed_sources = len(sources_for(AppMode.CHAT.value, ENABLED))
    assert not result.succeeded
    assert result.errors == failed_sources
    assert len(errors) == failed_sources
    assert {app.app.id for app in result.apps} == {app.id for app in apps}


async def test_poll_result_carries_timezone() -> None:
    collector = WorkspaceCollector(CountingClient(chat_apps(1)), CollectionOptions(enabled_metrics=ENABLED))

    result = await collector.poll(NOW)

    assert result.timezone is not None
    assert result.timezone.key == "UTC"
