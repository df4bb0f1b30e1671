"""``otel-dify check`` against the simulator: a passing report, a rejected login (exit 4), nothing listening (exit 3)."""

from __future__ import annotations

import secrets

from otel_dify.simulator import run_simulator
from tests.e2e.environment import exporter_environment
from tests.rotel import free_port


def report_lines(stdout: str) -> dict[str, str]:
    """Return the ``label: value`` lines of the check report, keyed by label, without indentation."""
    lines = {}
    for line in stdout.splitlines():
        label, separator, value = line.strip().partition(": ")
        if separator:
            lines[label] = value
    return lines


async def test_check_passes(make_simulator, launcher):
    simulator = make_simulator(profile="1.15", seed=41)
    workspace = simulator.dataset.current_workspace(simulator.admin.id)
    async with run_simulator(simulator) as base_url:
        process = await launcher.run("check", environment=exporter_environment(simulator, base_url))

    report = report_lines(process.stdout())
    assert process.returncode == 0, process.describe()
    assert report.get("login", "").startswith("ok"), process.describe()
    assert report.get("Dify version") == "1.15.0", process.describe()
    assert report.get("account timezone") == simulator.admin.timezone, process.describe()
    assert report.get("workspace") == f"{workspace.name} ({workspace.id})", process.describe()
    assert report.get("apps", "").startswith(f"{len(simulator.apps())} ("), process.describe()
    assert report.get("statistics permission") == "ok", process.describe()
    assert process.stdout().splitlines()[-1] == "result: ok", process.describe()


async def test_check_wrong_password_exits_4(make_simulator, launcher, output_ledger):
    simulator = make_simulator(profile="1.15", seed=43)
    wrong_password = "wrong-password-" + secrets.token_hex(8)
    output_ledger.add_secret(wrong_password, "wrong password")
    async with run_simulator(simulator) as base_url:
        environment = exporter_environment(simulator, base_url, password=wrong_password)
        process = await launcher.run("check", environment=environment)

    assert process.returncode == 4, process.describe()
    assert "failed" in report_lines(process.stdout()), process.describe()
    assert process.stdout().splitlines()[-1] == "result: failed (exit code 4)", process.describe()
    assert simulator.login_attempts() == 1


async def test_check_closed_port_exits_3(make_simulator, launcher):
    simulator = make_simulator(profile="1.15", seed=47)
    # Nothing listens on a port that was free a moment ago.
    closed_url = f"http://127.0.0.1:{free_port()}"
    process = await launcher.run("check", environment=exporter_environment(simulator, closed_url))

    assert process.returncode == 3, process.describe()
    assert "failed" in report_lines(process.stdout()), process.describe()
    assert process.stdout().splitlines()[-1] == "result: failed (exit code 3)", process.describe()
