"""No output of any ``otel-dify`` subprocess contains a password, the admin key or a session token.

The conftest moves this module behind all others, so the scan reads the
output of every end-to-end test in the session. The scenario here runs on
its own too: DEBUG logging with token refreshes, in the token-pair and the
cookie-and-CSRF login generations.
"""

from __future__ import annotations

import asyncio

from otel_dify.simulator import run_simulator
from tests.e2e.environment import sink_environment
from tests.e2e.ledger import OutputLedger
from tests.e2e.processes import wait_for
from tests.e2e.run_steps import start_run, stop, wait_for_next_polls

REFRESH_PATH = "/console/api/refresh-token"


async def debug_run_with_refresh(profile: str, make_simulator, launcher, otlp_sink) -> None:
    """Run the exporter with DEBUG logs until it has refreshed its session once, then stop it with SIGTERM."""
    # Renewal starts at half the lifetime for short-lived tokens, so a 4 s
    # token is refreshed after about 2 s of polling.
    simulator = make_simulator(profile=profile, seed=59, access_token_ttl_s=4)
    async with run_simulator(simulator) as base_url:
        process = await start_run(
            launcher,
            simulator,
            base_url,
            name=f"run-debug-{profile}",
            OTEL_DIFY_LOG_LEVEL="DEBUG",
            **sink_environment(otlp_sink),
        )
        refreshed = await wait_for(lambda: simulator.count_requests(path=REFRESH_PATH) >= 1)
        await wait_for_next_polls(process)
        exited = await stop(process)

    assert refreshed, process.describe()
    assert exited.code == 0, process.describe()
    assert any(record.get("level") == "DEBUG" for record in process.log_records()), process.describe()


async def test_debug_runs_with_refresh(make_simulator, launcher, otlp_sink):
    # Token pairs in the body (1.9.1) and cookies with CSRF (1.15), side by side to save time.
    await asyncio.gather(
        debug_run_with_refresh("1.9.1", make_simulator, launcher, otlp_sink),
        debug_run_with_refresh("1.15", make_simulator, launcher, otlp_sink),
    )


def test_scan_finds_planted_secret(tmp_path):
    ledger = OutputLedger()
    output = tmp_path / "planted.stdout"
    output.write_text('{"message": "login", "password": "planted-secret-value"}\n')
    ledger.add_output(output)
    ledger.add_secret("planted-secret-value", "planted password")

    leaks = ledger.scan()

    assert [leak.label for leak in leaks] == ["planted password"]
    assert "planted-secret-value" not in leaks[0].excerpt


def test_scan_finds_token_shapes(tmp_path):
    ledger = OutputLedger()
    output = tmp_path / "tokens.stderr"
    output.write_text("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln\nrefresh " + "ab" * 64 + "\n")
    ledger.add_output(output)

    labels = sorted(leak.label for leak in ledger.scan())

    assert labels == ["128-hex token", "JWT-shaped string"]


def test_outputs_contain_no_secret(output_ledger):
    leaks = output_ledger.scan()

    assert output_ledger.outputs, "no subprocess output was recorded"
    assert {"admin password", "access token", "refresh token", "CSRF token"} <= output_ledger.secret_labels
    assert leaks == [], "\n".join(f"{leak.path.name}: {leak.label}: {leak.excerpt}" for leak in leaks)
