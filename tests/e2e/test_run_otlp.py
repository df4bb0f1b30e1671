"""``otel-dify run`` through a real collector (rotel-agent) to an OTLP sink: totals, shutdown, outages, restarts."""

from __future__ import annotations

import time

import pytest

from otel_dify.simulator import run_simulator
from tests.e2e.environment import GRPC, HTTP_PROTOBUF, otlp_environment
from tests.e2e.expectations import sink_points_by_attributes, sink_totals, totals_mismatches, wait_for_sink_truth
from tests.e2e.processes import EXPORTER_STOPPED, POLL_FINISHED, STOP_RECEIVED
from tests.e2e.run_steps import messages_from, start_run, stop, wait_for_export_after, wait_for_next_polls


@pytest.mark.parametrize("protocol", [GRPC, HTTP_PROTOBUF])
async def test_run_sends_truth_and_exports_on_sigterm(protocol, make_simulator, launcher, rotel_agent, otlp_sink):
    simulator = make_simulator(profile="1.15", seed=7)
    async with run_simulator(simulator) as base_url:
        # No periodic export during the test: every export comes from a poll,
        # or from the shutdown, so the export after SIGTERM can only be the final one.
        process = await start_run(
            launcher,
            simulator,
            base_url,
            OTEL_DIFY_POLL_INTERVAL="2",
            OTEL_METRIC_EXPORT_INTERVAL="600000",
            **otlp_environment(rotel_agent, protocol),
        )
        await wait_for_sink_truth(otlp_sink, simulator, process)

        # Stop between two polls, once the export that follows a poll has
        # arrived: until the next poll 2 s later only the shutdown exports.
        await wait_for_next_polls(process)
        finished_ns = process.last_time_ns(POLL_FINISHED)
        assert await wait_for_export_after(otlp_sink, finished_ns), process.describe()
        exited = await stop(process)

        final_export = await wait_for_export_after(otlp_sink, exited.sent_ns)

    assert exited.code == 0, process.describe()
    assert process.count_messages(EXPORTER_STOPPED) == 1, process.describe()
    assert POLL_FINISHED not in messages_from(process, STOP_RECEIVED), process.describe()
    assert final_export, f"no export after SIGTERM reached the sink\n{process.describe()}\n{rotel_agent.output()}"
    assert totals_mismatches(simulator, sink_totals(otlp_sink)) == []


async def test_run_survives_collector_outage(make_simulator, launcher, restartable_rotel, otlp_sink):
    simulator = make_simulator(profile="1.15", seed=11)
    async with run_simulator(simulator) as base_url:
        process = await start_run(launcher, simulator, base_url, **otlp_environment(restartable_rotel, GRPC))
        await wait_for_sink_truth(otlp_sink, simulator, process)
        before_outage = sink_totals(otlp_sink)

        restartable_rotel.stop()
        simulator.add_traffic()
        await wait_for_next_polls(process, count=3, timeout_s=30.0)
        during_outage = sink_totals(otlp_sink)

        restartable_rotel.restart()
        await wait_for_sink_truth(otlp_sink, simulator, process, timeout_s=30.0)

    assert process.returncode is None, process.describe()
    assert during_outage == before_outage
    assert totals_mismatches(simulator, before_outage) != []


async def test_run_twice_gives_identical_totals(make_simulator, launcher, rotel_agent, otlp_sink):
    simulator = make_simulator(profile="1.15", seed=17)
    runs = []
    async with run_simulator(simulator) as base_url:
        for index in range(2):
            start_ns = time.time_ns()
            process = await start_run(
                launcher, simulator, base_url, name=f"run-{index}", **otlp_environment(rotel_agent, GRPC)
            )

            # Points older than the start came from the previous process.
            fresh = await wait_for_export_after(otlp_sink, start_ns)
            assert fresh, process.describe()
            await wait_for_sink_truth(otlp_sink, simulator, process)

            exited = await stop(process)
            assert exited.code == 0, process.describe()

            # The final export must be in before the sink is cleared, or it
            # would arrive later and mix with the next process's points.
            assert await wait_for_export_after(otlp_sink, exited.sent_ns), process.describe()
            runs.append(sink_points_by_attributes(otlp_sink))
            otlp_sink.clear()

    first, second = runs
    assert all(first[metric] for metric in first)
    assert first == second
