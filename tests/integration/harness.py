"""An exporter wired to an in-process Dify simulator, with both clocks under the test's control."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import Decimal
from typing import AsyncIterator

from otel_dify.config import Settings, load_settings
from otel_dify.runtime.assembly import Assembly, assemble
from otel_dify.snapshot import Point, SnapshotHolder
from otel_dify.simulator import DifySimulator, run_simulator

ADMIN_KEY = "test-admin-key-5f1c9a27d3b84e6f"


class MonotonicClock:
    """A monotonic clock that moves only when the test advances it (and with the simulator's clock)."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    simulator: DifySimulator
    settings: Settings
    assembly: Assembly
    holder: SnapshotHolder
    monotonic: MonotonicClock

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock and the exporter's monotonic clock together."""
        self.simulator.clock.advance(seconds)
        self.monotonic.now += seconds

    async def poll(self):
        return await self.assembly.poller.poll_once()

    def points(self, metric: str) -> tuple[Point, ...]:
        return self.holder.current.get(metric)

    def value(self, metric: str, app_id: str, **attributes: str) -> float | None:
        """Return the value of ``metric`` for one app, or None when it has no point."""
        for point in self.points(metric):
            if point.attributes.get("dify.app.id") != app_id:
                continue
            if all(point.attributes.get(key) == value for key, value in attributes.items()):
                return point.value
        return None


def exporter_environment(
    simulator: DifySimulator, base_url: str, *, admin_key: bool = False, **extra: str
) -> dict[str, str]:
    environ = {"OTEL_DIFY_BASE_URL": base_url, "OTEL_DIFY_HEALTH_PORT": "0"}
    if admin_key:
        workspace_id = simulator.dataset.current_workspace(simulator.admin.id).id
        environ |= {"OTEL_DIFY_ADMIN_API_KEY": ADMIN_KEY, "OTEL_DIFY_WORKSPACE_IDS": workspace_id}
    else:
        environ |= {"OTEL_DIFY_EMAIL": simulator.admin.email, "OTEL_DIFY_PASSWORD": simulator.admin_password}
    environ |= {f"OTEL_DIFY_{name.upper()}": value for name, value in extra.items()}
    return environ


@contextlib.asynccontextmanager
async def running_harness(
    simulator: DifySimulator, *, admin_key: bool = False, **settings: str
) -> AsyncIterator[Harness]:
    """Serve ``simulator`` on loopback and wire an exporter to it; close both at the end."""
    async with run_simulator(simulator) as base_url:
        environ = exporter_environment(simulator, base_url, admin_key=admin_key, **settings)
        loaded = load_settings(environ, env_file=None)
        holder = SnapshotHolder()
        monotonic = MonotonicClock()
        assembly = assemble(loaded, holder, wall_clock=simulator.clock.now, monotonic=monotonic)
        try:
            yield Harness(simulator, loaded, assembly, holder, monotonic)
        finally:
            await assembly.close()


def cost_usd(truth_cost: dict[str, Decimal]) -> float:
    return float(truth_cost.get("USD", Decimal(0)))


def record_sum(harness: Harness, metric: str, app_id: str, **attributes: str | None) -> float:
    """Sum the points of a record metric for one app whose attributes match; a None value means absent."""
    total = 0.0
    for point in harness.points(metric):
        if point.attributes.get("dify.app.id") != app_id:
            continue
        if all(point.attributes.get(key) == value for key, value in attributes.items()):
            total += point.value
    return total


@contextlib.asynccontextmanager
async def running_service_harness(
    simulator: DifySimulator, app_ids: list[str], **settings: str
) -> AsyncIterator[Harness]:
    """Like :func:`running_harness`, but with the apps' service-API keys instead of a console login."""
    async with run_simulator(simulator) as base_url:
        keys = ",".join(simulator.app_api_key(app_id) for app_id in app_ids)
        environ = {"OTEL_DIFY_BASE_URL": base_url, "OTEL_DIFY_HEALTH_PORT": "0", "OTEL_DIFY_SERVICE_API_KEYS": keys}
        environ |= {f"OTEL_DIFY_{name.upper()}": value for name, value in settings.items()}
        loaded = load_settings(environ, env_file=None)
        holder = SnapshotHolder()
        monotonic = MonotonicClock()
        assembly = assemble(loaded, holder, wall_clock=simulator.clock.now, monotonic=monotonic)
        try:
            yield Harness(simulator, loaded, assembly, holder, monotonic)
        finally:
            await assembly.close()
