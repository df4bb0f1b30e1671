"""The exporter under test, in a process of its own: ``python -m bench.worker ...``.

The orchestrator (``bench/run.py``) starts one worker per measurement, with
the exporter's settings in ``OTEL_DIFY_*`` variables and the OTLP endpoint
and protocol in the standard ``OTEL_EXPORTER_OTLP_*`` variables. The worker
builds the same parts as ``otel-dify run`` (settings, telemetry pipeline,
transport, clients, poller), drives ``Poller.poll_once``
in a loop with an export after each poll, as ``OTEL_DIFY_EXPORT_ON_POLL``
does, and prints one JSON object with its figures on stdout. Logs go to
stderr as JSON lines, as the exporter writes them to stdout in production.

Modes:

``timed``
    One first poll, then ``--polls`` steady-state polls. Reports the
    requests of every poll by kind with the minimum the enabled metrics
    need, each poll's wall time, the simulator's own handler time for the
    poll's requests, and the process CPU time of the steady-state polls and
    their exports.
``records``
    One first poll, then ``--polls`` polls, each after the simulator added
    ``--runs`` finished workflow runs. Reports what was added, the
    exporter's record counters, requests and CPU time (see
    ``bench/records_worker.py``).
``memory``
    ``--fast-polls`` polls back to back. Reports the resident memory before
    the first poll, after ``--polls`` polls and after ``--fast-polls``
    polls, plus samples in between.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from typing import Any

# The service module is not used here, but importing it loads the same
# modules as ``otel-dify run`` (health server, aiohttp.web), so the resident
# memory compares with the real process.
import otel_dify.runtime.service  # noqa: F401
from otel_dify.config import Settings, load_settings
from otel_dify.dify.models import AppMode
from otel_dify.logs import configure_logging
from otel_dify.runtime.assembly import assemble, enabled_metric_names
from otel_dify.records.levels import Level, active_levels
from otel_dify.snapshot import SnapshotHolder
from otel_dify.telemetry import create_telemetry

from bench.control import SimulatorControl
from bench.polling import check_summary, measure_poll, poll_and_export
from bench.procstats import anonymous_rss_bytes, rss_bytes
from bench.records_worker import records_run
from bench.request_counts import (
    SessionSchedule,
    app_list_pages,
    count_by_kind,
    record_requests,
    statistics_requests,
)
from bench.sizes import apps_per_mode

logger = logging.getLogger(__name__)

#: Memory samples taken during a memory run, besides the named checkpoints.
MEMORY_SAMPLES = 20


def minimum_requests(
    apps: int, enabled: frozenset[str], levels: frozenset[Level], *, history: bool, session: int
) -> int:
    """Return the fewest requests of a poll over ``apps`` generated apps (an equal share per mode)."""
    share = apps_per_mode(apps)
    by_mode = {mode.value: share for mode in AppMode}
    return (
        app_list_pages(apps)
        + statistics_requests(by_mode, enabled, history=history)
        + record_requests(by_mode, levels)
        + session
    )


async def timed_run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Poll once, then ``args.polls`` times more; return each poll's requests, minimum, wall, server and CPU time."""
    holder = SnapshotHolder()
    telemetry = create_telemetry(settings, holder)
    assembly = assemble(settings, holder, durations=telemetry)
    control = SimulatorControl(settings.base_url)
    enabled = enabled_metric_names(settings)
    levels = active_levels(tuple(settings.records_enabled), enabled)
    schedule = SessionSchedule(token_ttl_s=args.token_ttl)
    flush_timeout_s = min(settings.request_timeout, 10.0)
    polls: list[dict[str, Any]] = []
    cpu_steady_s = 0.0
    cpu_export_s = 0.0

    try:
        for index in range(args.polls + 1):
            first = index == 0
            # Read before the CPU window opens, so the control request costs the figures nothing.
            server_before = await control.server_time()
            due = schedule.due_requests(time.monotonic())
            measured = await measure_poll(assembly, telemetry, flush_timeout_s)
            summary = measured.summary
            per_endpoint = measured.endpoints

            served = (await control.server_time()).since(server_before)
            if not first:
                cpu_steady_s += measured.cpu_poll_s + measured.cpu_export_s
                cpu_export_s += measured.cpu_export_s
            check_summary(summary, args.apps)
            polls.append(
                {
                    "first": first,
                    "requests": count_by_kind(per_endpoint),
                    "endpoints": per_endpoint,
                    "minimum": minimum_requests(args.apps, enabled, levels, history=first, session=due),
                    "duration_s": summary.duration_s,
                    "cpu_poll_s": measured.cpu_poll_s,
                    "cpu_export_s": measured.cpu_export_s,
                    "server_requests": served.requests,
                    "server_handler_s": served.handler_s,
                    "server_cpu_s": served.cpu_s,
                }
            )
    finally:
        await control.close()
        await assembly.close()
        telemetry.shutdown(5.0, final_export=False)

    return {
        "mode": "timed",
        "apps": args.apps,
        "polls": polls,
        "cpu_steady_s": cpu_steady_s,
        "cpu_export_s": cpu_export_s,
    }


async def memory_run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Poll ``args.fast_polls`` times back to back; return the resident memory at the checkpoints."""
    holder = SnapshotHolder()
    telemetry = create_telemetry(settings, holder)
    assembly = assemble(settings, holder, durations=telemetry)
    flush_timeout_s = min(settings.request_timeout, 10.0)
    sample_every = max(1, args.fast_polls // MEMORY_SAMPLES)
    samples: list[tuple[int, int]] = []
    checkpoints = {0: memory_checkpoint()}
    started = time.monotonic()

    try:
        for done in range(1, args.fast_polls + 1):
            summary = await poll_and_export(assembly, telemetry, flush_timeout_s)
            check_summary(summary, args.apps)
            if done in (args.polls, args.fast_polls):
                checkpoints[done] = memory_checkpoint()
            if done % sample_every == 0:
                samples.append((done, rss_bytes()))
    finally:
        await assembly.close()
        telemetry.shutdown(5.0, final_export=False)

    return {
        "mode": "memory",
        "apps": args.apps,
        "polls": args.polls,
        "fast_polls": args.fast_polls,
        "start": checkpoints[0],
        "after_polls": checkpoints[args.polls],
        "after_fast_polls": checkpoints[args.fast_polls],
        "samples": samples,
        "elapsed_s": time.monotonic() - started,
    }


def memory_checkpoint() -> dict[str, int]:
    """Return the resident memory and its private part now, in bytes."""
    return {"rss": rss_bytes(), "anonymous": anonymous_rss_bytes()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.worker", description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("timed", "memory", "records"), help="what to measure")
    parser.add_argument("--apps", type=int, required=True, help="apps the simulator generated")
    parser.add_argument(
        "--polls", type=int, required=True, help="timed: steady-state polls; memory: first checkpoint; records: polls"
    )
    parser.add_argument("--fast-polls", type=int, default=0, help="memory: polls in all")
    parser.add_argument("--runs", type=int, default=100, help="records: runs the simulator adds before each poll")
    parser.add_argument("--token-ttl", type=float, default=3600.0, help="access-token lifetime of the simulator, s")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.mode == "memory" and args.fast_polls < args.polls:
        print("worker: --fast-polls must be at least --polls in memory mode", file=sys.stderr)
        return 2

    configure_logging("INFO", sys.stderr)
    # The settings come from OTEL_DIFY_* variables, as in ``otel-dify run``.
    # A .env file in the working directory is not read.
    settings = load_settings(env_file=None)
    run = {"timed": timed_run, "memory": memory_run, "records": records_run}[args.mode]
    result = asyncio.run(run(args, settings))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
