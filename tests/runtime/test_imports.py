"""Which modules the ``run`` command loads: only those its settings need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

# Builds what ``otel-dify run`` builds before its first poll (settings,
# telemetry pipeline, transport, clients, poller, health server) and prints
# the names of the loaded modules.
RUN_PATH_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys

    from otel_dify.cli import main  # noqa: F401
    from otel_dify.commands import _load
    from otel_dify.health import HealthServer, HealthState
    from otel_dify.runtime.assembly import assemble
    from otel_dify.runtime.service import run_service  # noqa: F401
    from otel_dify.snapshot import SnapshotHolder
    from otel_dify.telemetry import create_telemetry

    async def build():
        settings = _load()
        holder = SnapshotHolder()
        telemetry = create_telemetry(settings, holder)
        assembly = assemble(settings, holder, durations=telemetry)
        health = HealthServer("127.0.0.1", 0, HealthState(poll_interval_s=60))
        await health.start()
        await health.stop()
        await assembly.close()
        telemetry.shutdown(1.0, final_export=False)

    asyncio.run(build())
    print(json.dumps(sorted(sys.modules)))
    """
)


def loaded_modules(**settings: str) -> set[str]:
    environ = {name: value for name, value in os.environ.items() if not name.startswith(("OTEL_DIFY_", "OTEL_EXPORTER"))}
    environ |= {
        "OTEL_DIFY_BASE_URL": "http://127.0.0.1:9",
        "OTEL_DIFY_EMAIL": "metrics@example.com",
        "OTEL_DIFY_PASSWORD": "not-a-real-password",
        # Port 9 (discard) on loopback: nothing is exported before the shutdown.
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        **settings,
    }
    result = subprocess.run(
        [sys.executable, "-c", RUN_PATH_SCRIPT], capture_output=True, text=True, env=environ, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def loaded_packages(modules: set[str], *prefixes: str) -> set[str]:
    return {name for name in modules if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)}


def test_run_http_skips_unused_modules() -> None:
    modules = loaded_modules(OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf")

    assert loaded_packages(modules, "grpc", "opentelemetry.exporter.otlp.proto.grpc") == set()
    assert loaded_packages(modules, "aiohttp.web") == set()
    assert loaded_packages(modules, "otel_dify.simulator", "otel_dify.demo", "otel_dify.check") == set()
    assert loaded_packages(modules, "otel_dify.telemetry.console") == set()


def test_run_metrics_protocol_http_skips_grpc() -> None:
    modules = loaded_modules(OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="http/protobuf")

    assert loaded_packages(modules, "grpc") == set()
    assert "opentelemetry.exporter.otlp.proto.http.metric_exporter" in modules


def test_run_records_off_skips_record_modules() -> None:
    modules = loaded_modules(OTEL_DIFY_RECORDS_ENABLED="none")

    # The settings read the level names from otel_dify.records.levels, so only that module stays.
    assert loaded_packages(modules, "otel_dify.records") == {"otel_dify.records", "otel_dify.records.levels"}
    assert "otel_dify.dify.records_client" not in modules


def test_run_records_on_loads_record_modules() -> None:
    modules = loaded_modules()

    assert "otel_dify.records.runtime" in modules


def test_run_grpc_loads_grpc() -> None:
    modules = loaded_modules(OTEL_EXPORTER_OTLP_PROTOCOL="grpc")

    assert "grpc" in modules
