"""Faults of Dify's HTTP side, in process: a fault that fails polls turns ``up`` to 0 and readiness to 503,
and once it ends the exporter recovers by itself with exact totals.

Each scenario polls once cleanly, switches the fault on, adds traffic, and
polls twice across the readiness window (three poll intervals), then
switches the fault off and polls once more.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import pytest

from otel_dify.simulator import DifySimulator
from otel_dify.simulator.faults import (
    FaultAction,
    FaultInjector,
    delay,
    drop_connection,
    drop_row_field,
    error_status,
    html_page,
    rewrite_json,
    set_row_field,
    truncated_json,
)
from tests.faults.support import POLL_INTERVAL_S, FaultHarness, add_traffic, fault_harness, record_mismatches, totals_mismatches

APPS_LIST = "/console/api/apps"
STATISTICS = "/console/api/apps/*/statistics/*"
TOKEN_COSTS = "/console/api/apps/*/statistics/token-costs"
WORKFLOW_STATISTICS = "/console/api/apps/*/workflow/statistics/*"


#: Switches a fault on for the duration of an ``async with`` block.
FaultSwitch = Callable[[FaultHarness], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class Scenario:
    """A fault and the ``error.type`` that ``dify.exporter.errors`` must count while it lasts."""

    fault: FaultSwitch
    error_type: str


def rule(make_action: Callable[[], FaultAction], path: str, **options: Any) -> FaultSwitch:
    """Return a switch that adds the rule ``make_action()`` on ``path`` and stops it at the end of the block."""

    @contextlib.asynccontextmanager
    async def switched_on(harness: FaultHarness) -> AsyncIterator[None]:
        fault = harness.faults.add(make_action(), path=path, **options)
        try:
            yield
        finally:
            fault.stop()

    return switched_on


@contextlib.asynccontextmanager
async def listener_closed(harness: FaultHarness) -> AsyncIterator[None]:
    assert harness.server is not None
    await harness.server.close_listener()
    try:
        yield
    finally:
        await harness.server.open_listener()


SCENARIOS = {
    "listener closed": Scenario(listener_closed, "transport"),
    "connections dropped": Scenario(rule(drop_connection, APPS_LIST, method="GET"), "transport"),
    "apps list times out": Scenario(rule(lambda: delay(5.0), APPS_LIST, method="GET"), "timeout"),
    "503 on apps list": Scenario(rule(lambda: error_status(503), APPS_LIST), "http_status"),
    "502 page on statistics": Scenario(rule(lambda: error_status(502, html=True), STATISTICS), "http_status"),
    "html 200 on statistics": Scenario(rule(lambda: html_page(200), STATISTICS), "invalid_response"),
    "html 404 on apps list": Scenario(rule(lambda: html_page(404), APPS_LIST), "not_found"),
    "truncated json on statistics": Scenario(rule(truncated_json, TOKEN_COSTS), "invalid_response"),
    "rows without date": Scenario(rule(lambda: rewrite_json(drop_row_field("date")), STATISTICS), "invalid_response"),
    "token count as list": Scenario(
        rule(lambda: rewrite_json(set_row_field("token_count", [1, 2])), TOKEN_COSTS), "invalid_response"
    ),
    "rows without total_price": Scenario(
        rule(lambda: rewrite_json(drop_row_field("total_price")), TOKEN_COSTS), "invalid_response"
    ),
    "workflow runs as text": Scenario(
        rule(lambda: rewrite_json(set_row_field("runs", "many")), WORKFLOW_STATISTICS), "invalid_response"
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_fault_fails_poll_then_recovers(name):
    scenario = SCENARIOS[name]
    simulator = DifySimulator(profile="1.15", seed=61, faults=FaultInjector(seed=61))

    async with fault_harness(simulator) as harness:
        assert (await harness.poll()).succeeded
        add_traffic(simulator)

        async with scenario.fault(harness):
            first_failed = await harness.tick()
            up_during = harness.up()
            ready_within_window = harness.ready_status()
            second_failed = await harness.tick(2 * POLL_INTERVAL_S)
            ready_after_window = harness.ready_status()
            errors_during = harness.errors()

        add_traffic(simulator)
        recovered = await harness.tick()

        assert not first_failed.succeeded
        assert not second_failed.succeeded
        assert up_during == [0.0]
        assert ready_within_window == 200
        assert ready_after_window == 503
        assert errors_during.get(scenario.error_type, 0) >= 2, errors_during
        assert recovered.succeeded
        assert harness.up() == [1.0]
        assert harness.ready_status() == 200
        assert totals_mismatches(harness) == []
        assert record_mismatches(harness, harness.started_at) == []


async def test_short_burst_absorbed_by_retries():
    simulator = DifySimulator(profile="1.15", seed=101, faults=FaultInjector(101))
    async with fault_harness(simulator) as harness:
        assert (await harness.poll()).succeeded

        # Two 502s and the third attempt of the same request succeeds.
        burst = harness.faults.add(error_status(502, html=True), path=APPS_LIST, count=2)
        add_traffic(simulator)
        summary = await harness.tick()

        assert burst.applied == 2
        assert summary.succeeded
        assert harness.up() == [1.0]
        assert totals_mismatches(harness) == []


async def test_slow_apps_list_within_timeout():
    simulator = DifySimulator(profile="1.15", seed=103, faults=FaultInjector(103))
    async with fault_harness(simulator, request_timeout="2s") as harness:
        slow = harness.faults.add(delay(0.3), path=APPS_LIST, method="GET")
        add_traffic(simulator, offset_s=-3600)
        summary = await harness.poll()

        assert slow.applied == 1
        assert summary.succeeded
        assert harness.errors() == {}
        assert totals_mismatches(harness) == []


async def test_one_app_failing_spares_the_others():
    simulator = DifySimulator(profile="1.15", seed=107, faults=FaultInjector(107))
    chat = simulator.app_of_mode("chat")
    async with fault_harness(simulator) as harness:
        assert (await harness.poll()).succeeded
        chat_messages = harness.value("dify.app.messages", chat.id)

        fault = harness.faults.add(error_status(500), app_id=chat.id)
        add_traffic(simulator)
        failed = await harness.tick()
        others = [line for line in totals_mismatches(harness) if chat.id not in line]
        chat_messages_during = harness.value("dify.app.messages", chat.id)
        fault.stop()
        recovered = await harness.tick()

        assert not failed.succeeded
        assert others == []
        assert chat_messages_during == chat_messages
        assert recovered.succeeded
        assert totals_mismatches(harness) == []


RECORD_PATHS = {
    "workflow app logs": "/console/api/apps/*/workflow-app-logs",
    "advanced-chat runs": "/console/api/apps/*/advanced-chat/workflow-runs",
    "node executions": "/console/api/apps/*/workflow-runs/*/node-executions",
}


@pytest.mark.parametrize("name", list(RECORD_PATHS))
async def test_record_fault_keeps_up_and_counts_once(name):
    simulator = DifySimulator(profile="1.15", seed=109, faults=FaultInjector(109))
    async with fault_harness(simulator) as harness:
        assert (await harness.poll()).succeeded

        fault = harness.faults.add(error_status(503), path=RECORD_PATHS[name])
        add_traffic(simulator)
        during = await harness.tick()
        record_gap = record_mismatches(harness, harness.started_at)
        errors_during = harness.errors()
        fault.stop()
        add_traffic(simulator)
        await harness.tick()
        await harness.tick()

        # Record errors count, but only statistics decide whether a poll succeeded.
        assert fault.applied > 0
        assert during.succeeded
        assert record_gap != []
        assert errors_during.get("http_status", 0) >= 1, errors_during
        assert harness.up() == [1.0]
        assert totals_mismatches(harness) == []
        assert record_mismatches(harness, harness.started_at) == []


async def test_random_faults_leave_exact_totals():
    simulator = DifySimulator(profile="1.15", seed=113, faults=FaultInjector(113))
    async with fault_harness(simulator) as harness:
        assert (await harness.poll()).succeeded

        # A fifth of all requests fail in one of three ways, drawn from fixed seeds.
        faults = [
            harness.faults.add(error_status(503), probability=0.1),
            harness.faults.add(drop_connection(), probability=0.05),
            harness.faults.add(rewrite_json(drop_row_field("date")), path=STATISTICS, probability=0.05),
        ]
        outcomes = []
        for _ in range(8):
            add_traffic(simulator)
            outcomes.append((await harness.tick()).succeeded)
        for fault in faults:
            fault.stop()
        add_traffic(simulator)
        final = await harness.tick()
        await harness.tick()

        assert sum(fault.applied for fault in faults) > 0
        assert not all(outcomes)
        assert final.succeeded
        assert totals_mismatches(harness) == []
        assert record_mismatches(harness, harness.started_at) == []
