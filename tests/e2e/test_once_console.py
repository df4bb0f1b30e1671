"""``otel-dify once --console`` prints totals equal to the simulator's ground truth, in every Dify profile."""

from __future__ import annotations

import secrets

import pytest

from otel_dify.simulator import run_simulator
from tests.e2e.environment import exporter_environment
from tests.e2e.expectations import COST, MESSAGES, WORKFLOW_RUNS, console_totals, totals_mismatches

PROFILES = ["0.9.1", "1.9.1", "1.9.2", "1.15"]


@pytest.mark.parametrize("profile", PROFILES)
async def test_once_console_totals(profile, make_simulator, launcher):
    simulator = make_simulator(profile=profile, seed=7)
    async with run_simulator(simulator) as base_url:
        process = await launcher.run("once", "--console", environment=exporter_environment(simulator, base_url))

    assert process.returncode == 0, process.describe()
    observed = console_totals(process.stdout().splitlines())
    assert totals_mismatches(simulator, observed) == [], process.describe()
    assert simulator.login_attempts() == 1


async def test_once_console_admin_key(make_simulator, launcher):
    admin_api_key = "e2e-admin-key-" + secrets.token_hex(12)
    simulator = make_simulator(profile="1.15", seed=5, admin_api_key=admin_api_key)
    async with run_simulator(simulator) as base_url:
        environment = exporter_environment(simulator, base_url, admin_api_key=admin_api_key)
        process = await launcher.run("once", "--console", environment=environment)

    assert process.returncode == 0, process.describe()
    observed = console_totals(process.stdout().splitlines())
    assert totals_mismatches(simulator, observed) == [], process.describe()
    assert simulator.login_attempts() == 0


async def test_once_console_covers_every_mode(make_simulator, launcher):
    # Guards the tests above: the seed must give apps of every mode, each with traffic.
    simulator = make_simulator(profile="1.15", seed=7)
    async with run_simulator(simulator) as base_url:
        process = await launcher.run("once", "--console", environment=exporter_environment(simulator, base_url))

    observed = console_totals(process.stdout().splitlines())
    modes = {app.mode.value for app in simulator.apps()}
    assert modes == {"chat", "completion", "agent-chat", "advanced-chat", "workflow"}
    assert all(value > 0 for (metric, _, _), value in observed.items() if metric in (MESSAGES, WORKFLOW_RUNS, COST))
    assert process.returncode == 0, process.describe()
