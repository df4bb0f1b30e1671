"""One poll of the exporter under test followed by its export, and the check of its outcome."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from otel_dify.runtime.assembly import Assembly
from otel_dify.runtime.poller import PollSummary
from otel_dify.telemetry import Telemetry

from bench.procstats import cpu_seconds
from bench.request_counts import count_by_endpoint

logger = logging.getLogger(__name__)


async def export(telemetry: Telemetry, flush_timeout_s: float) -> None:
    """Export on an executor thread, as the service does after each poll."""
    loop = asyncio.get_running_loop()
    exported = await loop.run_in_executor(None, telemetry.force_flush, flush_timeout_s)
    if not exported:
        logger.warning("metrics export failed")


async def poll_and_export(assembly: Assembly, telemetry: Telemetry, flush_timeout_s: float) -> PollSummary:
    """Poll once and export, as ``otel-dify run`` does with OTEL_DIFY_EXPORT_ON_POLL=true."""
    summary = await assembly.poller.poll_once()
    await export(telemetry, flush_timeout_s)
    return summary


@dataclass(frozen=True)
class MeasuredPoll:
    """One poll and its export, with the process CPU time of each and the requests by endpoint."""

    summary: PollSummary
    cpu_poll_s: float
    cpu_export_s: float
    endpoints: dict[str, int]


async def measure_poll(assembly: Assembly, telemetry: Telemetry, flush_timeout_s: float) -> MeasuredPoll:
    """Poll once and export, timing the CPU of each step and counting the poll's requests."""
    before = assembly.stats.requests()
    cpu_before = cpu_seconds()

    summary = await assembly.poller.poll_once()
    cpu_polled = cpu_seconds()
    await export(telemetry, flush_timeout_s)
    cpu_after = cpu_seconds()

    return MeasuredPoll(
        summary=summary,
        cpu_poll_s=cpu_polled - cpu_before,
        cpu_export_s=cpu_after - cpu_polled,
        endpoints=count_by_endpoint(before, assembly.stats.requests()),
    )


def check_summary(summary: PollSummary, apps: int) -> None:
    """Raise RuntimeError unless the poll succeeded and saw every generated app."""
    if not summary.succeeded or summary.errors:
        raise RuntimeError(f"poll failed: {summary.errors} errors, {summary.workspaces_failed} workspaces failed")
    if summary.apps != apps:
        raise RuntimeError(f"poll saw {summary.apps} apps, the simulator generated {apps}")
