"""``otel-dify demo``: the exporter against the built-in Dify simulator, with no Dify needed."""

from __future__ import annotations

import sys
from typing import TextIO

from otel_dify.config import load_settings
from otel_dify.runtime.service import run_once, run_service
from otel_dify.simulator import DifySimulator, SimClock, run_simulator


async def run_demo(
    *, profile: str = "1.15", seed: int = 1, otlp: bool = False, interval_s: float = 15.0, out: TextIO | None = None
) -> int:
    """Serve a simulator on a free loopback port and run the exporter against it.

    Without ``otlp``: one poll, the metrics printed to ``out`` (stdout), then
    the simulator's own totals per app for comparison. With ``otlp``: the
    exporter runs at ``interval_s`` and sends to the OTLP endpoint that the
    standard OTEL_EXPORTER_OTLP_* variables name, until SIGTERM or SIGINT.
    """
    out = out or sys.stdout
    simulator = DifySimulator(profile=profile, seed=seed, clock=SimClock.system())

    async with run_simulator(simulator) as base_url:
        settings = load_settings(
            {
                "OTEL_DIFY_BASE_URL": base_url,
                "OTEL_DIFY_EMAIL": simulator.admin.email,
                "OTEL_DIFY_PASSWORD": simulator.admin_password,
                "OTEL_DIFY_POLL_INTERVAL": str(interval_s),
                "OTEL_DIFY_INITIAL_DELAY": "0",
                "OTEL_DIFY_HEALTH_PORT": "0",
            },
            env_file=None,
        )
        if otlp:
            return await run_service(settings)

        exit_code = await run_once(settings, console=True, console_stream=out)
        out.write("\n# simulator ground truth (what the counters above must equal)\n")
        for app in simulator.apps():
            truth = simulator.ground_truth(app.id)
            cost = ", ".join(f"{amount} {currency}" for currency, amount in sorted(truth.cost.items())) or "0"
            # Some generated names already end in the mode, for example "Invoice Extractor (workflow)".
            label = app.name if f"({app.mode.value})" in app.name else f"{app.name} ({app.mode.value})"
            out.write(
                f"# {label}: messages={truth.messages} tokens={truth.tokens} "
                f"cost={cost} workflow_runs={truth.workflow_runs} workflow_tokens={truth.workflow_tokens}\n"
            )
        return exit_code
