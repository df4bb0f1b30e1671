"""The worker's ``records`` mode: polls that each find new workflow runs, and the exporter's record counters.

Before each timed poll the worker calls the simulator's control route to
add ``--runs`` finished runs. That request lies outside the poll's
CPU window, so the simulator's work never counts as the exporter's. The
first poll is not timed: record counting starts with it, and runs created
before it are never counted. Since the simulator dates the runs up to
``RUN_AGE_S`` before it adds them, the worker waits after the first poll
until that age cannot reach back before the counting start.

Runs still waiting for their node executions after the last of these polls
are read in drain polls, which add no runs and are timed like the others.
The result contains, per timed poll, what the simulator added, the requests by
endpoint, the wall time and the CPU time of the poll and its export. It also
contains the change of the exporter's own counters over the timed polls, as its
snapshot reports them, so ``bench/records_figures.py`` can check that every
added run was counted and read once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from otel_dify.catalog import ATTR_GEN_AI_TOKEN_TYPE, ATTR_METRIC_OVERFLOW, ATTR_RECORDS_LEVEL
from otel_dify.config import Settings
from otel_dify.records.levels import Level
from otel_dify.records.points import BACKLOG_METRIC, DROPPED_METRIC, REQUESTS_METRIC
from otel_dify.records.recorder import LLM_CALLS_METRIC, LLM_TOKENS_METRIC, RUNS_METRIC
from otel_dify.runtime.assembly import assemble
from otel_dify.runtime.poller import PollSummary
from otel_dify.snapshot import AttributeValue, Snapshot, SnapshotHolder
from otel_dify.telemetry import create_telemetry

from bench.control import RUN_AGE_S, AddedRuns, SimulatorControl
from bench.polling import measure_poll, poll_and_export
from bench.request_counts import count_by_kind

logger = logging.getLogger(__name__)

#: The exporter's error counter, by workspace and error type.
ERRORS_METRIC = "dify.exporter.errors"

#: Seconds added to the waits for a whole second, for clock reads in between.
WHOLE_SECOND_MARGIN_S = 0.1

#: Drain polls allowed beyond those the usage budget needs for the backlog left after the polls with new runs.
DRAIN_EXTRA_POLLS = 2


@dataclass(frozen=True)
class RecordCounters:
    """Totals of the exporter's record counters at one moment, summed over their series.

    ``tokens`` sums every series of ``dify.llm.tokens``, and
    ``input_tokens`` and ``output_tokens`` the series of that token type.
    ``overflow_tokens`` is the part in the ``otel.metric.overflow`` series,
    which carries no token type, once the series cap is reached.
    ``usage_requests`` is ``dify.exporter.records.requests`` of the
    ``llm_usage`` level: one per node-execution read. ``backlog`` is the
    runs still waiting for their node executions.
    """

    runs: float
    llm_calls: float
    tokens: float
    input_tokens: float
    output_tokens: float
    overflow_tokens: float
    usage_requests: float
    backlog: float
    dropped: float
    errors: float

    def since(self, earlier: RecordCounters) -> RecordCounters:
        """Return the change from ``earlier``; ``backlog`` stays this reading's level, as it is a gauge."""
        return RecordCounters(
            runs=self.runs - earlier.runs,
            llm_calls=self.llm_calls - earlier.llm_calls,
            tokens=self.tokens - earlier.tokens,
            input_tokens=self.input_tokens - earlier.input_tokens,
            output_tokens=self.output_tokens - earlier.output_tokens,
            overflow_tokens=self.overflow_tokens - earlier.overflow_tokens,
            usage_requests=self.usage_requests - earlier.usage_requests,
            backlog=self.backlog,
            dropped=self.dropped - earlier.dropped,
            errors=self.errors - earlier.errors,
        )


def counting_start_delay(now: float, runs: int) -> float:
    """Return the seconds to wait after the first poll ended at Unix time ``now`` before adding ``runs`` runs.

    The exporter counts runs created at or after the whole second in which
    its first poll started, which is at most ``floor(now)``. The oldest run
    of a request is ``RUN_AGE_S`` plus ``runs`` microseconds older than the
    request, and ``WHOLE_SECOND_MARGIN_S`` covers the request's own time.
    """
    earliest = math.floor(now) + RUN_AGE_S + runs * 1e-6 + WHOLE_SECOND_MARGIN_S
    return max(0.0, earliest - now)


def read_counters(snapshot: Snapshot) -> RecordCounters:
    """Sum the record counters of ``snapshot``; a metric missing from it counts as 0."""

    def total(metric: str, attributes: Mapping[str, AttributeValue] | None = None) -> float:
        attributes = attributes or {}
        return sum(
            point.value
            for point in snapshot.get(metric)
            if all(point.attributes.get(key) == value for key, value in attributes.items())
        )

    return RecordCounters(
        runs=total(RUNS_METRIC),
        llm_calls=total(LLM_CALLS_METRIC),
        tokens=total(LLM_TOKENS_METRIC),
        input_tokens=total(LLM_TOKENS_METRIC, {ATTR_GEN_AI_TOKEN_TYPE: "input"}),
        output_tokens=total(LLM_TOKENS_METRIC, {ATTR_GEN_AI_TOKEN_TYPE: "output"}),
        overflow_tokens=total(LLM_TOKENS_METRIC, {ATTR_METRIC_OVERFLOW: True}),
        usage_requests=total(REQUESTS_METRIC, {ATTR_RECORDS_LEVEL: Level.LLM_USAGE.value}),
        backlog=total(BACKLOG_METRIC),
        dropped=total(DROPPED_METRIC),
        errors=total(ERRORS_METRIC),
    )


async def records_run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Poll once, then ``args.polls`` times after ``args.runs`` new runs each; return the figures' raw data.

    Raises RuntimeError when a poll fails for a whole workspace or misses
    apps, and ControlError when the simulator's control route fails. Record
    errors do not raise: they show in the counters, and the records check
    reports them.
    """
    holder = SnapshotHolder()
    telemetry = create_telemetry(settings, holder)
    assembly = assemble(settings, holder, durations=telemetry)
    control = SimulatorControl(settings.base_url)
    flush_timeout_s = min(settings.request_timeout, 10.0)
    polls: list[dict[str, Any]] = []

    async def timed_poll(added: AddedRuns) -> None:
        measured = await measure_poll(assembly, telemetry, flush_timeout_s)
        summary = measured.summary
        per_endpoint = measured.endpoints

        _check_poll(summary, args.apps)
        polls.append(
            {
                "added": added.as_dict(),
                "requests": count_by_kind(per_endpoint),
                "endpoints": per_endpoint,
                "errors": summary.errors,
                "duration_s": summary.duration_s,
                "cpu_poll_s": measured.cpu_poll_s,
                "cpu_export_s": measured.cpu_export_s,
            }
        )

    try:
        first = await poll_and_export(assembly, telemetry, flush_timeout_s)
        _check_poll(first, args.apps)
        start = read_counters(holder.current)
        await asyncio.sleep(counting_start_delay(time.time(), args.runs))

        for _ in range(args.polls):
            await timed_poll(await control.add_runs(args.runs))

        # Runs the budget or a retry left in the backlog are read by drain
        # polls. They add no runs and count in the CPU time, as their reads
        # are part of processing the added runs.
        backlog = read_counters(holder.current).backlog
        drain_limit = math.ceil(backlog / settings.llm_usage_budget) + DRAIN_EXTRA_POLLS
        for _ in range(drain_limit):
            if not read_counters(holder.current).backlog:
                break
            await asyncio.sleep(next_second_delay(time.time()))
            await timed_poll(AddedRuns(runs=0, llm_calls=0, input_tokens=0, output_tokens=0))

        counters = read_counters(holder.current).since(start)
    finally:
        await control.close()
        await assembly.close()
        telemetry.shutdown(5.0, final_export=False)

    return {
        "mode": "records",
        "apps": args.apps,
        "runs_per_poll": args.runs,
        "llm_usage_budget": settings.llm_usage_budget,
        "polls": polls,
        "counters": asdict(counters),
    }


def next_second_delay(now: float) -> float:
    """Return the seconds from Unix time ``now`` until just after the next whole second."""
    return math.floor(now) + 1 + WHOLE_SECOND_MARGIN_S - now


def _check_poll(summary: PollSummary, apps: int) -> None:
    if not summary.succeeded:
        raise RuntimeError(f"poll failed: {summary.workspaces_failed} of {summary.workspaces} workspaces failed")
    if summary.apps != apps:
        raise RuntimeError(f"poll saw {summary.apps} apps, the simulator generated {apps}")
