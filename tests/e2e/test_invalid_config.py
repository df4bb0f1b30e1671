"""Invalid configuration: ``otel-dify run`` exits 2, names every bad variable, never polls, never prints the password."""

from __future__ import annotations

import secrets

from otel_dify.simulator import run_simulator
from tests.e2e.processes import base_environment
from tests.rotel import free_port

BAD_VARIABLES = {
    "OTEL_DIFY_POLL_INTERVAL": "abc",
    "OTEL_DIFY_MAX_CONCURRENCY": "0",
    "OTEL_DIFY_POLL_INTERVALL": "5",
}


def problem_variables(stderr: str) -> set[str]:
    """Return the variable names that start the problem lines (``NAME: reason``) of the error output."""
    return {line.split(":", 1)[0] for line in stderr.splitlines() if line.startswith("OTEL_DIFY_")}


async def test_invalid_config_names_every_variable(launcher, output_ledger):
    password = "e2e-password-" + secrets.token_hex(8)
    output_ledger.add_secret(password, "configured password")
    environment = base_environment(
        OTEL_DIFY_EMAIL="admin@example.com",
        OTEL_DIFY_PASSWORD=password,
        OTEL_DIFY_HEALTH_PORT=str(free_port()),
        **BAD_VARIABLES,
    )

    process = await launcher.run("run", environment=environment)

    output = process.stdout() + process.stderr()
    assert process.returncode == 2, process.describe()
    assert problem_variables(process.stderr()) == set(BAD_VARIABLES) | {"OTEL_DIFY_BASE_URL"}, process.describe()
    assert password not in output
    assert "exporter started" not in process.messages()


async def test_invalid_config_never_contacts_dify(make_simulator, launcher, output_ledger):
    simulator = make_simulator(profile="1.15", seed=37)
    async with run_simulator(simulator) as base_url:
        environment = base_environment(
            OTEL_DIFY_BASE_URL=base_url,
            OTEL_DIFY_EMAIL=simulator.admin.email,
            OTEL_DIFY_PASSWORD=simulator.admin_password,
            OTEL_DIFY_HEALTH_PORT=str(free_port()),
            OTEL_DIFY_INITIAL_DELAY="0",
            **BAD_VARIABLES,
        )
        process = await launcher.run("run", environment=environment)

    assert process.returncode == 2, process.describe()
    assert problem_variables(process.stderr()) == set(BAD_VARIABLES), process.describe()
    assert simulator.request_log == []
    assert simulator.admin_password not in process.stdout() + process.stderr()
