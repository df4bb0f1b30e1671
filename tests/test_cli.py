"""The otel-dify command line as a user runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from otel_dify import __version__

COMMAND = [sys.executable, "-m", "otel_dify"]


def clean_environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith(("OTEL_DIFY_", "OTEL_EXPORTER"))}


def test_version_flag():
    result = subprocess.run([*COMMAND, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"otel-dify {__version__}"


def test_run_without_configuration_exits_2(tmp_path):
    result = subprocess.run(
        COMMAND, capture_output=True, text=True, timeout=60, env=clean_environment(), cwd=tmp_path
    )
    assert result.returncode == 2
    assert "OTEL_DIFY_BASE_URL" in result.stderr


def test_simulator_subcommand_passes_options():
    process = subprocess.Popen(
        [*COMMAND, "simulator", "--port", "0", "--profile", "1.9.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_environment(),
    )
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{base_url}/console/api/setup", timeout=10) as response:
            assert response.status == 200
            assert response.headers["X-Version"] == "1.9.1"
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=30)
    assert exit_code == 0


@pytest.mark.parametrize("command", ["run", "once"])
def test_state_dir_in_use_exits_2(tmp_path, command):
    from otel_dify.records.store import StateStore

    holder = StateStore(tmp_path / "state")
    holder.load(seen_bound=10, backlog_bound=10)
    environment = clean_environment() | {
        # Nothing listens on the discard port; the command must stop before its first request.
        "OTEL_DIFY_BASE_URL": "http://127.0.0.1:9",
        "OTEL_DIFY_EMAIL": "ops@example.com",
        "OTEL_DIFY_PASSWORD": "not-a-real-password",
        "OTEL_DIFY_STATE_DIR": str(tmp_path / "state"),
        "OTEL_DIFY_HEALTH_PORT": "0",
    }
    try:
        result = subprocess.run(
            [*COMMAND, command], capture_output=True, text=True, timeout=60, env=environment, cwd=tmp_path
        )
    finally:
        holder.close()

    assert result.returncode == 2
    assert "OTEL_DIFY_STATE_DIR" in result.stderr
    assert "in use by another otel-dify process" in result.stderr
    assert "Traceback" not in result.stderr
    assert "not-a-real-password" not in result.stdout + result.stderr


def test_healthcheck_port_zero_exits_2(tmp_path):
    environment = clean_environment() | {"OTEL_DIFY_HEALTH_PORT": "0"}

    result = subprocess.run(
        [*COMMAND, "healthcheck"], capture_output=True, text=True, timeout=60, env=environment, cwd=tmp_path
    )

    assert result.returncode == 2
    assert "--port" in result.stderr


def test_healthcheck_failure_names_url(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    # The socket is closed, so nothing listens on the port any more.

    result = subprocess.run(
        [*COMMAND, "healthcheck", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_environment(),
        cwd=tmp_path,
    )

    assert result.returncode == 1
    assert f"http://127.0.0.1:{port}/healthz" in result.stderr


def test_demo_prints_metrics_and_truth(tmp_path):
    result = subprocess.run(
        [*COMMAND, "demo"], capture_output=True, text=True, timeout=120, env=clean_environment(), cwd=tmp_path
    )

    assert result.returncode == 0
    assert "dify.app.messages" in result.stdout
    truth_lines = [line for line in result.stdout.splitlines() if line.startswith("# ") and "messages=" in line]
    assert len(truth_lines) == 5
    for line in truth_lines:
        label = line[2:].split(":")[0]
        assert label.count("(") == 1, label
