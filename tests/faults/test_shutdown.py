"""SIGTERM under faults, process-level: during a held poll, during a hung export, and while the collector is down.

Each test measures the time from SIGTERM to the process's exit on the test's
own clock. ``EXIT_MARGIN_S`` allows for the half second that the telemetry
pipeline may take beyond its budget to stop its exporter, and for the
interpreter's exit, which joins the exporter's threads: up to 0.7 s with
gRPC on a two-core machine, with room to spare for a loaded CI machine.

When the export in flight or the final export cannot end within the
shutdown timeout (a collector that accepts connections and never answers,
with an OTLP timeout longer than the shutdown timeout), the process logs
"poll in flight cancelled" at ERROR, gives the final export half a second,
and exits with code 1. Measured with gRPC: 3.8 to 4.2 s after SIGTERM for a
3 s timeout. The same bound holds with HTTP/protobuf, whose exporter blocks
until its own request timeout: the flush and the shutdown run on daemon
threads, and the exit does not wait for them.
"""

from __future__ import annotations

import asyncio

import pytest

from otel_dify.simulator import run_simulator
from otel_dify.simulator.faults import FaultInjector, delay
from tests.e2e.environment import GRPC, HTTP_PROTOBUF, otlp_environment, sink_environment
from tests.e2e.expectations import sink_totals, totals_mismatches, wait_for_sink_truth
from tests.e2e.processes import POLL_FINISHED, ExporterProcess, Launcher, wait_for, wait_for_message
from tests.e2e.run_steps import Exit, send_sigterm, start_run, stop, wait_for_export_after, wait_for_next_polls
from tests.e2e.simulated import E2ESimulator
from tests.faults.process_checks import output_problems
from tests.faults.silent_collector import SilentCollector

SHUTDOWN_TIMEOUT_S = 3.0
EXIT_MARGIN_S = 2.0
STATISTICS = "/console/api/apps/*/statistics/*"


async def stop_during_silent_export(
    launcher: Launcher, simulator: E2ESimulator, protocol: str, *, shutdown_timeout: str, otlp_timeout: str
) -> tuple[ExporterProcess, Exit]:
    """Run against a collector that accepts connections and never responds, and send SIGTERM once an export hangs.

    Periodic exports are off, so the hung export is the one that follows the
    first poll. ``shutdown_timeout`` and ``otlp_timeout`` are the values of
    OTEL_DIFY_SHUTDOWN_TIMEOUT and OTEL_EXPORTER_OTLP_TIMEOUT, in seconds.
    """
    with SilentCollector() as collector:
        async with run_simulator(simulator) as base_url:
            process = await start_run(
                launcher,
                simulator,
                base_url,
                OTEL_DIFY_SHUTDOWN_TIMEOUT=shutdown_timeout,
                OTEL_METRIC_EXPORT_INTERVAL="600000",
                OTEL_EXPORTER_OTLP_TIMEOUT=otlp_timeout,
                OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
                OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
            )
            await wait_for_message(process, POLL_FINISHED)
            assert await wait_for(lambda: collector.accepted > 0), process.describe()
            exited = await stop(process)
    return process, exited


async def test_sigterm_during_held_poll(make_simulator, launcher, otlp_sink, output_ledger):
    simulator = make_simulator(profile="1.15", seed=131, faults=FaultInjector(131))
    async with run_simulator(simulator) as base_url:
        process = await start_run(
            launcher,
            simulator,
            base_url,
            OTEL_DIFY_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT_S),
            OTEL_METRIC_EXPORT_INTERVAL="600000",
            **sink_environment(otlp_sink),
        )
        await wait_for_sink_truth(otlp_sink, simulator, process)

        # One statistics request is held for longer than the exporter's
        # request timeout (10 s), so the poll outlasts the shutdown timeout.
        held = simulator.faults.add(delay(30.0), path=STATISTICS, count=1)
        assert await wait_for(lambda: held.applied == 1), process.describe()
        exited = await stop(process)
        final_export = await wait_for_export_after(otlp_sink, exited.sent_ns, timeout_s=5.0)

    assert exited.code == 1, process.describe()
    assert exited.seconds <= SHUTDOWN_TIMEOUT_S + EXIT_MARGIN_S, process.describe()
    assert final_export, process.describe()
    assert totals_mismatches(simulator, sink_totals(otlp_sink)) == []
    assert output_problems(process, output_ledger) == []


@pytest.mark.parametrize("protocol", [GRPC, HTTP_PROTOBUF])
async def test_sigterm_during_hung_export_exits_0(protocol, make_simulator, launcher, output_ledger):
    simulator = make_simulator(profile="1.15", seed=137)

    # An export attempt ends after 1 s, well within the 4 s shutdown
    # timeout, so the export in flight and the final one both fit.
    process, exited = await stop_during_silent_export(
        launcher, simulator, protocol, shutdown_timeout="4", otlp_timeout="1"
    )

    assert exited.code == 0, process.describe()
    assert exited.seconds <= 4.0 + EXIT_MARGIN_S, process.describe()
    assert output_problems(process, output_ledger) == []


@pytest.mark.parametrize("protocol", [GRPC, HTTP_PROTOBUF])
async def test_sigterm_during_endless_export_exits_in_time(protocol, make_simulator, launcher, output_ledger):
    simulator = make_simulator(profile="1.15", seed=139)

    # An export attempt lasts 10 s, far past the shutdown timeout, so the exit
    # must not wait for it. Its code is 1 because the final export could not
    # end within the timeout.
    process, exited = await stop_during_silent_export(
        launcher, simulator, protocol, shutdown_timeout=str(SHUTDOWN_TIMEOUT_S), otlp_timeout="10"
    )

    assert exited.code == 1, process.describe()
    assert exited.seconds <= SHUTDOWN_TIMEOUT_S + EXIT_MARGIN_S, process.describe()
    assert output_problems(process, output_ledger) == []


async def test_sigterm_while_collector_down(make_simulator, launcher, restartable_rotel, otlp_sink, output_ledger):
    simulator = make_simulator(profile="1.15", seed=149)
    async with run_simulator(simulator) as base_url:
        # An export attempt retries for up to 5 s, within the 8 s shutdown timeout.
        process = await start_run(
            launcher,
            simulator,
            base_url,
            OTEL_DIFY_SHUTDOWN_TIMEOUT="8",
            OTEL_EXPORTER_OTLP_TIMEOUT="5",
            **otlp_environment(restartable_rotel, GRPC),
        )
        await wait_for_sink_truth(otlp_sink, simulator, process)

        restartable_rotel.stop()
        simulator.add_traffic()
        await wait_for_next_polls(process)
        totals_before_stop = sink_totals(otlp_sink)

        # The collector comes back while the exporter shuts down, so the
        # export attempts of the shutdown deliver the totals of the outage.
        stopping = send_sigterm(process)
        await asyncio.to_thread(restartable_rotel.restart)
        exited = await stopping.exit()
        delivered = await wait_for_export_after(otlp_sink, exited.sent_ns, timeout_s=5.0)

    assert totals_mismatches(simulator, totals_before_stop) != []
    assert exited.code == 0, process.describe()
    assert exited.seconds <= 8.0 + EXIT_MARGIN_S, process.describe()
    assert delivered, process.describe()
    assert totals_mismatches(simulator, sink_totals(otlp_sink)) == []
    assert output_problems(process, output_ledger) == []


async def test_sigterm_with_collector_gone(make_simulator, launcher, restartable_rotel, otlp_sink, output_ledger):
    simulator = make_simulator(profile="1.15", seed=151)
    async with run_simulator(simulator) as base_url:
        process = await start_run(
            launcher,
            simulator,
            base_url,
            OTEL_DIFY_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT_S),
            OTEL_EXPORTER_OTLP_TIMEOUT="2",
            **otlp_environment(restartable_rotel, GRPC),
        )
        await wait_for_sink_truth(otlp_sink, simulator, process)

        restartable_rotel.stop()
        await wait_for_next_polls(process, count=2)
        exited = await stop(process)

    # Every export attempt until the exit met a refused connection, which
    # the SDK reports as a failed export, not as a traceback.
    assert exited.code == 0, process.describe()
    assert exited.seconds <= SHUTDOWN_TIMEOUT_S + EXIT_MARGIN_S, process.describe()
    assert output_problems(process, output_ledger) == []
