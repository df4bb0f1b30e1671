"""One poll of the exporter under test followed by its export, and the check of its outcome."""

from __future__ import annotations

import asyncio
import logging

from otel_dify.runtime.assembly import Assembly
from otel_dify.runtime.poller import PollSummary
from otel_dify.telemetry import Telemetry

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


def check_summary(summary: PollSummary, apps: int) -> None:
    """Raise RuntimeError unless the poll succeeded and saw every generated app."""
    if not summary.succeeded or summary.errors:
        raise RuntimeError(f"poll failed: {summary.errors} errors, {summary.workspaces_failed} workspaces failed")
    if summary.apps != apps:
        raise RuntimeError(f"poll saw {summary.apps} apps, the simulator generated {apps}")
