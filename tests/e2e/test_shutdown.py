"""SIGTERM handling of ``otel-dify run``: a poll in flight finishes and is exported, a second signal forces exit 1."""

from __future__ import annotations

from otel_dify.simulator import run_simulator
from tests.e2e.environment import GRPC, otlp_environment, sink_environment
from tests.e2e.expectations import MESSAGES, newest_point_ns, sink_totals, totals_mismatches, wait_for_sink_truth
from tests.e2e.processes import POLL_FINISHED, SECOND_STOP, STOP_RECEIVED, wait_for, wait_for_message
from tests.e2e.run_steps import messages_from, send_sigterm, start_run, stop


async def test_sigterm_during_poll_exports_after_it(make_simulator, launcher, rotel_agent, otlp_sink):
    simulator = make_simulator(profile="1.15", seed=23)
    slow = simulator.slow_statistics
    async with run_simulator(simulator) as base_url:
        try:
            # Without periodic exports, only the poll's own export or the
            # shutdown's can bring points newer than the delayed request.
            process = await start_run(
                launcher,
                simulator,
                base_url,
                OTEL_DIFY_POLL_INTERVAL="2",
                OTEL_METRIC_EXPORT_INTERVAL="600000",
                **otlp_environment(rotel_agent, GRPC),
            )
            await wait_for_sink_truth(otlp_sink, simulator, process)

            slow.arm(delay_s=1.5)
            assert await wait_for(slow.request_held.is_set), process.describe()
            stopping = send_sigterm(process)
            in_flight_at_signal = slow.released_ns is None
            exited = await stopping.exit()

            exported_after_poll = await wait_for(
                lambda: slow.released_ns is not None and newest_point_ns(otlp_sink, MESSAGES) > slow.released_ns
            )
        finally:
            slow.release()

    assert in_flight_at_signal
    assert exited.code == 0, process.describe()
    assert STOP_RECEIVED in process.messages(), process.describe()
    assert POLL_FINISHED in messages_from(process, STOP_RECEIVED), process.describe()
    assert exported_after_poll, process.describe()
    assert totals_mismatches(simulator, sink_totals(otlp_sink)) == []


async def test_second_sigterm_during_poll_exits_1(make_simulator, launcher, otlp_sink):
    simulator = make_simulator(profile="1.15", seed=29)
    slow = simulator.slow_statistics
    async with run_simulator(simulator) as base_url:
        try:
            # The delayed request ends well before the shutdown timeout, so
            # only the second signal can make the exit code 1.
            process = await start_run(
                launcher, simulator, base_url, OTEL_DIFY_SHUTDOWN_TIMEOUT="10", **sink_environment(otlp_sink)
            )
            await wait_for_message(process, POLL_FINISHED)

            slow.arm(delay_s=3.0)
            assert await wait_for(slow.request_held.is_set), process.describe()
            send_sigterm(process)
            await wait_for_message(process, STOP_RECEIVED)
            stopping = send_sigterm(process)
            in_flight_at_second_signal = slow.released_ns is None
            exited = await stopping.exit()
        finally:
            slow.release()

    assert in_flight_at_second_signal
    assert exited.code == 1, process.describe()
    assert process.count_messages(SECOND_STOP) == 1, process.describe()


async def test_sigterm_between_polls_exits_promptly(make_simulator, launcher, otlp_sink):
    simulator = make_simulator(profile="1.15", seed=31)
    async with run_simulator(simulator) as base_url:
        # Nothing is in flight and the next poll is 30 s away, so the exit
        # should follow the signal at once. The test waits 8 s, far less
        # than the 60 s shutdown timeout.
        process = await start_run(
            launcher,
            simulator,
            base_url,
            OTEL_DIFY_POLL_INTERVAL="30",
            OTEL_DIFY_SHUTDOWN_TIMEOUT="60",
            **sink_environment(otlp_sink),
        )
        await wait_for_message(process, POLL_FINISHED)
        exited = await stop(process, timeout_s=8.0)

    assert exited.code == 0, process.describe()
