"""Readiness of a running ``otel-dify run`` through Dify outages: 503 while polls fail, 200 again without an operator."""

from __future__ import annotations

from otel_dify.simulator import run_simulator
from otel_dify.simulator.faults import FaultInjector, error_status, run_switchable_simulator
from tests.e2e.environment import GRPC, exporter_environment
from tests.e2e.expectations import wait_for_sink_truth
from tests.e2e.processes import wait_for
from tests.faults.process_checks import http_status, output_problems

APPS_LIST = "/console/api/apps"
# Three poll intervals of 1 s make the readiness window. Failing polls retry
# for up to 1.5 s more, so each transition comes far within this bound.
TRANSITION_WAIT_S = 15.0


def sink_up(otlp_sink) -> list[float]:
    return [float(value) for _attributes, value in otlp_sink.points("dify.exporter.up")]


async def test_readyz_follows_5xx_outage(make_simulator, launcher, otlp_sink, output_ledger):
    simulator = make_simulator(profile="1.15", seed=173, faults=FaultInjector(173))
    async with run_simulator(simulator) as base_url:
        environment = exporter_environment(
            simulator, base_url, OTEL_EXPORTER_OTLP_PROTOCOL=GRPC, OTEL_EXPORTER_OTLP_ENDPOINT=otlp_sink.endpoint
        )
        health = f"http://127.0.0.1:{environment['OTEL_DIFY_HEALTH_PORT']}"
        process = await launcher.start("run", environment=environment)
        await wait_for_sink_truth(otlp_sink, simulator, process)
        ready_before = http_status(health + "/readyz")

        outage = simulator.faults.add(error_status(503), path=APPS_LIST)
        not_ready = await wait_for(lambda: http_status(health + "/readyz") == 503, TRANSITION_WAIT_S)
        down_reported = await wait_for(lambda: sink_up(otlp_sink) == [0.0], TRANSITION_WAIT_S)
        live_during = http_status(health + "/healthz")

        outage.stop()
        simulator.add_traffic()
        ready_again = await wait_for(lambda: http_status(health + "/readyz") == 200, TRANSITION_WAIT_S)
        up_reported = await wait_for(lambda: sink_up(otlp_sink) == [1.0], TRANSITION_WAIT_S)
        await wait_for_sink_truth(otlp_sink, simulator, process)

    assert ready_before == 200
    assert not_ready, process.describe()
    assert down_reported, process.describe()
    assert live_during == 200
    assert ready_again, process.describe()
    assert up_reported, process.describe()
    assert process.returncode is None, process.describe()
    assert output_problems(process, output_ledger) == []


async def test_readyz_follows_refused_connections(make_simulator, launcher, otlp_sink, output_ledger):
    simulator = make_simulator(profile="1.15", seed=179, faults=FaultInjector(179))
    async with run_switchable_simulator(simulator) as server:
        environment = exporter_environment(
            simulator,
            server.base_url,
            OTEL_EXPORTER_OTLP_PROTOCOL=GRPC,
            OTEL_EXPORTER_OTLP_ENDPOINT=otlp_sink.endpoint,
        )
        health = f"http://127.0.0.1:{environment['OTEL_DIFY_HEALTH_PORT']}"
        process = await launcher.start("run", environment=environment)
        await wait_for_sink_truth(otlp_sink, simulator, process)

        await server.close_listener()
        not_ready = await wait_for(lambda: http_status(health + "/readyz") == 503, TRANSITION_WAIT_S)
        down_reported = await wait_for(lambda: sink_up(otlp_sink) == [0.0], TRANSITION_WAIT_S)

        simulator.add_traffic()
        await server.open_listener()
        ready_again = await wait_for(lambda: http_status(health + "/readyz") == 200, TRANSITION_WAIT_S)
        await wait_for_sink_truth(otlp_sink, simulator, process)

    assert not_ready, process.describe()
    assert down_reported, process.describe()
    assert ready_again, process.describe()
    assert process.returncode is None, process.describe()
    assert output_problems(process, output_ledger) == []
