"""An in-process exporter wired to a simulator with faults, and checks of its figures against ground truth."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import AsyncIterator

from otel_dify.config import load_settings
from otel_dify.health import HealthState, check_readiness
from otel_dify.runtime.assembly import assemble
from otel_dify.runtime.poller import PollSummary
from otel_dify.simulator import DifySimulator
from otel_dify.simulator.faults import FaultInjector, SwitchableServer, run_switchable_simulator
from otel_dify.snapshot import SnapshotHolder
from tests.integration.harness import Harness, MonotonicClock, exporter_environment

#: Poll interval of the fault harness, in seconds; the readiness window is three of them.
POLL_INTERVAL_S = 60.0

#: Request timeout of the fault harness. Short, because a held request costs real time.
REQUEST_TIMEOUT = "300ms"

# Costs are decimals in the simulator and floats in the snapshot.
_COST_TOLERANCE = 1e-9


@dataclass
class FaultHarness(Harness):
    """A :class:`Harness` on a :class:`SwitchableServer`, with the fault injector and a readiness model.

    :meth:`poll` updates a :class:`HealthState` as ``otel-dify run`` does after
    each poll, on the harness's monotonic clock, so :meth:`ready_status`
    returns the status ``/readyz`` would return at the current clock reading.
    """

    server: SwitchableServer | None = None
    started_at: datetime | None = None
    health: HealthState = field(default_factory=lambda: HealthState(poll_interval_s=POLL_INTERVAL_S))
    summaries: list[PollSummary] = field(default_factory=list)

    @property
    def faults(self) -> FaultInjector:
        assert self.simulator.faults is not None, "the simulator was made without a FaultInjector"
        return self.simulator.faults

    async def poll(self) -> PollSummary:
        summary = await self.assembly.poller.poll_once()
        self.summaries.append(summary)
        self.health.loop_heartbeat = self.monotonic()
        if summary.succeeded:
            self.health.last_success = self.monotonic()
            self.health.reason = ""
        else:
            self.health.reason = "; ".join(self.assembly.poller.failing_reasons()) or "the last poll failed"
        return summary

    async def tick(self, seconds: float = POLL_INTERVAL_S) -> PollSummary:
        """Advance both clocks by ``seconds`` and poll once."""
        self.advance(seconds)
        return await self.poll()

    def ready_status(self) -> int:
        """Return the status ``/readyz`` would return now: 200 or 503."""
        return check_readiness(self.health, self.monotonic()).status_code

    def up(self) -> list[float]:
        return [point.value for point in self.points("dify.exporter.up")]

    def errors(self) -> dict[str, float]:
        """Return ``dify.exporter.errors`` by ``error.type``."""
        return {point.attributes["error.type"]: point.value for point in self.points("dify.exporter.errors")}


@contextlib.asynccontextmanager
async def fault_harness(
    simulator: DifySimulator, *, admin_key: bool = False, **settings: str
) -> AsyncIterator[FaultHarness]:
    """Serve ``simulator`` on a switchable listener and wire an exporter to it; close both at the end.

    The exporter polls every 60 s of the harness clock, with a 300 ms request
    timeout unless ``settings`` says otherwise.
    """
    if simulator.faults is None:
        simulator.faults = FaultInjector()
    settings = {"poll_interval": str(int(POLL_INTERVAL_S)), "request_timeout": REQUEST_TIMEOUT, **settings}
    async with run_switchable_simulator(simulator) as server:
        environ = exporter_environment(simulator, server.base_url, admin_key=admin_key, **settings)
        loaded = load_settings(environ, env_file=None)
        holder = SnapshotHolder()
        monotonic = MonotonicClock()
        assembly = assemble(loaded, holder, wall_clock=simulator.clock.now, monotonic=monotonic)
        harness = FaultHarness(
            simulator, loaded, assembly, holder, monotonic, server=server, started_at=simulator.clock.now()
        )
        try:
            yield harness
        finally:
            simulator.faults.clear()
            await assembly.close()


def add_traffic(simulator: DifySimulator, *, offset_s: float = 5.0) -> None:
    """Add two messages to every message app and two runs to every workflow app, ``offset_s`` after the clock's now.

    The simulator serves no record dated after its now, so with the default
    the traffic arrives between this poll and the next one, where
    record-level collection counts it (it starts counting at the first poll).
    """
    created_at = simulator.clock.now() + timedelta(seconds=offset_s)
    for app in simulator.apps():
        if app.mode.value == "workflow":
            for tokens in (120, 80):
                simulator.dataset.add_workflow_run(app.id, created_at, total_tokens=tokens)
        else:
            for tokens in (100, 40):
                simulator.dataset.add_message(app.id, created_at, message_tokens=tokens, answer_tokens=tokens // 2)


def totals_mismatches(harness: Harness) -> list[str]:
    """Return one line per statistics counter of any app that differs from the ground truth; empty when all match."""
    problems: list[str] = []
    for app in harness.simulator.apps():
        truth = harness.simulator.ground_truth(app.id)
        mode = app.mode.value
        expected: dict[str, float] = {}
        if mode != "workflow":
            expected["dify.app.messages"] = truth.messages
            expected["dify.app.tokens"] = truth.tokens
        if mode in ("workflow", "advanced-chat"):
            expected["dify.app.workflow.runs"] = truth.workflow_runs
            expected["dify.app.workflow.tokens"] = truth.workflow_tokens
        for metric, want in expected.items():
            got = harness.value(metric, app.id)
            if got != want:
                problems.append(f"{metric} {app.mode.value} {app.id}: got {got}, expected {want}")
        if mode != "workflow":
            want_cost = float(truth.cost.get("USD", Decimal(0)))
            got_cost = harness.value("dify.app.cost", app.id, **{"dify.cost.currency": "USD"})
            if got_cost is None or not math.isclose(got_cost, want_cost, rel_tol=0.0, abs_tol=_COST_TOLERANCE):
                problems.append(f"dify.app.cost {app.mode.value} {app.id}: got {got_cost}, expected {want_cost}")
    return problems


def record_mismatches(harness: Harness, since: datetime) -> list[str]:
    """Return one line per record-level run or LLM figure that differs from the record truth since ``since``.

    Compares, per workflow and advanced-chat app, ``dify.workflow.runs``
    summed over statuses, ``dify.workflow.tokens``, and ``dify.llm.tokens``
    and ``dify.llm.calls`` summed over models.
    """
    problems: list[str] = []
    for app in harness.simulator.apps():
        if app.mode.value not in ("workflow", "advanced-chat"):
            continue
        truth = harness.simulator.record_truth(app.id, since=since)
        expected = {
            "dify.workflow.runs": float(truth.run_count),
            "dify.workflow.tokens": float(truth.workflow_tokens),
            "dify.llm.tokens": float(sum(usage.input_tokens + usage.output_tokens for usage in truth.models.values())),
            "dify.llm.calls": float(sum(usage.calls for usage in truth.models.values())),
        }
        for metric, want in expected.items():
            got = sum(
                point.value for point in harness.points(metric) if point.attributes.get("dify.app.id") == app.id
            )
            if got != want:
                problems.append(f"{metric} {app.mode.value} {app.id}: got {got}, expected {want}")
    return problems
