"""``otel-dify check`` in the app-key-only mode reads /v1/info with every key."""

from __future__ import annotations

import io

from otel_dify.check import EXIT_AUTHENTICATION, EXIT_OK, run_check
from otel_dify.config import load_settings
from otel_dify.simulator import DifySimulator, run_simulator

UNKNOWN_KEY = "app-unknownunknownunknown00"


async def check_output(simulator: DifySimulator, keys: list[str]) -> tuple[int, str]:
    async with run_simulator(simulator) as base_url:
        settings = load_settings(
            {"OTEL_DIFY_BASE_URL": base_url, "OTEL_DIFY_SERVICE_API_KEYS": ",".join(keys)}, env_file=None
        )
        out = io.StringIO()
        code = await run_check(settings, out)
    return code, out.getvalue()


async def test_check_app_key_reports_app():
    simulator = DifySimulator(profile="1.15", seed=47)
    workflow = simulator.app_of_mode("workflow")

    code, output = await check_output(simulator, [simulator.app_api_key(workflow.id)])

    assert code == EXIT_OK
    assert f"app: {workflow.name} (workflow)" in output
    assert "Dify version: 1.15.0" in output
    assert output.endswith("result: ok\n")


async def test_check_unknown_app_key_fails():
    simulator = DifySimulator(profile="1.15", seed=47)
    workflow = simulator.app_of_mode("workflow")

    code, output = await check_output(simulator, [simulator.app_api_key(workflow.id), UNKNOWN_KEY])

    assert code == EXIT_AUTHENTICATION
    assert "Access token is invalid" in output
    assert UNKNOWN_KEY not in output
