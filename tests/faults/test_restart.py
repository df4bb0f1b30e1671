"""SIGKILL and restart, process-level: absolute statistics counters, and record counters kept in a state directory.

A killed exporter gets no shutdown at all. The statistics counters are
absolute totals read from Dify, so a restarted process must send the same
values. Record counters are totals held by the exporter, so without a
state directory they start again. With one, a restart must neither lose
nor count twice the records created before, during and after the outage.
"""

from __future__ import annotations

import time
from pathlib import Path

from otel_dify.simulator import run_simulator
from otel_dify.simulator.faults import FaultInjector, delay
from tests.e2e.environment import GRPC, exporter_environment, otlp_environment, sink_environment
from tests.e2e.expectations import sink_points_by_attributes, wait_for_sink_truth
from tests.e2e.processes import POLL_FINISHED, wait_for, wait_for_message
from tests.e2e.run_steps import wait_for_export_after, wait_for_next_polls
from tests.faults.process_checks import (
    COUNTING_STARTS,
    add_finished_runs,
    counting_started_at,
    expected_record_totals,
    output_problems,
    record_totals,
)

NODE_EXECUTIONS = "/console/api/apps/*/workflow-runs/*/node-executions"


async def test_sigkill_restart_same_statistics(make_simulator, launcher, rotel_agent, otlp_sink, output_ledger):
    simulator = make_simulator(profile="1.15", seed=157)
    async with run_simulator(simulator) as base_url:
        environment = exporter_environment(simulator, base_url, **otlp_environment(rotel_agent, GRPC))
        first = await launcher.start("run", environment=environment, name="run-killed")
        await wait_for_sink_truth(otlp_sink, simulator, first)
        await first.kill()
        before_kill = sink_points_by_attributes(otlp_sink)

        # The killed process may have had an export in flight; wait until the
        # sink has only points of the new process.
        otlp_sink.clear()
        restarted_ns = time.time_ns()
        second = await launcher.start("run", environment=environment, name="run-restarted")
        fresh = await wait_for_export_after(otlp_sink, restarted_ns)
        await wait_for_sink_truth(otlp_sink, simulator, second)
        after_restart = sink_points_by_attributes(otlp_sink)

        simulator.add_traffic()
        await wait_for_sink_truth(otlp_sink, simulator, second)

    assert fresh, second.describe()
    assert all(before_kill[metric] for metric in before_kill)
    assert after_restart == before_kill
    assert second.returncode is None, second.describe()
    assert output_problems(second, output_ledger) == []


async def test_state_dir_restart_counts_once(make_simulator, launcher, otlp_sink, output_ledger, tmp_path: Path):
    simulator = make_simulator(profile="1.15", seed=163)
    async with run_simulator(simulator) as base_url:
        environment = exporter_environment(
            simulator, base_url, OTEL_DIFY_STATE_DIR=str(tmp_path / "state"), **sink_environment(otlp_sink)
        )
        first = await launcher.start("run", environment=environment, name="run-state-killed")
        await wait_for_message(first, POLL_FINISHED, count=2)
        since = counting_started_at(first)
        add_finished_runs(simulator)
        counted_first = await wait_for(lambda: record_totals(otlp_sink) == expected_record_totals(simulator, since))

        await first.kill()
        add_finished_runs(simulator)
        otlp_sink.clear()

        second = await launcher.start("run", environment=environment, name="run-state-restarted")
        await wait_for_message(second, POLL_FINISHED, count=1)
        add_finished_runs(simulator)
        counted_second = await wait_for(lambda: record_totals(otlp_sink) == expected_record_totals(simulator, since))

        # More polls must not count anything again.
        await wait_for_next_polls(second, count=2)
        totals_later = record_totals(otlp_sink)

    expected = expected_record_totals(simulator, since)
    assert counted_first, f"{record_totals(otlp_sink)} != {expected}\n{first.describe()}"
    assert counted_second, f"{record_totals(otlp_sink)} != {expected}\n{second.describe()}"
    assert totals_later == expected
    # The restarted process continues the saved count instead of starting a new one.
    assert COUNTING_STARTS not in second.messages(), second.describe()
    assert output_problems(second, output_ledger) == []


async def test_state_dir_kill_mid_poll(make_simulator, launcher, otlp_sink, output_ledger, tmp_path: Path):
    simulator = make_simulator(profile="1.15", seed=167, faults=FaultInjector(167))
    async with run_simulator(simulator) as base_url:
        environment = exporter_environment(
            simulator, base_url, OTEL_DIFY_STATE_DIR=str(tmp_path / "state"), **sink_environment(otlp_sink)
        )
        first = await launcher.start("run", environment=environment, name="run-state-mid-poll")
        await wait_for_message(first, POLL_FINISHED, count=2)
        since = counting_started_at(first)

        # The poll that lists the new runs is delayed in their usage requests,
        # so the kill lands after the runs were counted in memory but before
        # the poll saved its state.
        held = simulator.faults.add(delay(30.0), path=NODE_EXECUTIONS)
        add_finished_runs(simulator)
        assert await wait_for(lambda: held.applied > 0), first.describe()
        await first.kill()
        held.stop()
        simulator.faults.release_holds()

        otlp_sink.clear()
        second = await launcher.start("run", environment=environment, name="run-state-after-kill")
        counted = await wait_for(lambda: record_totals(otlp_sink) == expected_record_totals(simulator, since))
        await wait_for_next_polls(second, count=2)
        totals_later = record_totals(otlp_sink)

    expected = expected_record_totals(simulator, since)
    assert counted, f"{record_totals(otlp_sink)} != {expected}\n{second.describe()}"
    assert totals_later == expected
    assert output_problems(second, output_ledger) == []
