"""The whole benchmark at its smallest size, as a user runs it."""

import subprocess
import sys

from bench.processes import REPO_ROOT, child_environment

ROWS = (
    "requests / minimum",
    "poll wall time / ideal",
    "poll wall time / ideal with measured server time",
    "CPU per poll per app",
    "records: runs processed per CPU-second",
    "records: requests per run",
    "start to first export HTTP",
    "RSS HTTP, before the first poll",
    "RSS HTTP, after 2 polls",
    "RSS HTTP, after 3 polls",
    "RSS HTTP, growth 2 -> 3 polls",
)


def test_bench_smallest_run():
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--apps", "5", "--timed-polls", "1", "--polls", "2", "--fast-polls", "3",
         "--fast-polls-max-apps", "5", "--protocols", "http/protobuf", "--records-polls", "2", "--records-runs", "10",
         "--set", "OTEL_DIFY_MAX_SERIES_PER_METRIC=2000"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=child_environment(),
        timeout=300,
    )

    assert completed.returncode == 0, completed.stderr[-2000:]
    for row in ROWS:
        assert row in completed.stdout, f"row {row!r} missing from:\n{completed.stdout}"
    assert "not measured" not in completed.stdout
    assert "FAIL" not in completed.stdout
    assert "\nsettings: OTEL_DIFY_MAX_SERIES_PER_METRIC=2000\n" in completed.stdout
    assert "\n1 app count measured in " in completed.stdout


def test_run_script_help():
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "run.py"), "--help"],
        capture_output=True,
        text=True,
        env=child_environment(),
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert "--fast-polls" in completed.stdout


def test_bench_rejects_uneven_apps():
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--apps", "12"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=child_environment(),
        timeout=60,
    )

    assert completed.returncode == 2
    assert "multiple of 5" in completed.stderr


def test_bench_rejects_zero_records_runs():
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--apps", "5", "--records-runs", "0"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=child_environment(),
        timeout=60,
    )

    assert completed.returncode == 2
    assert "--records-runs must be between 1 and" in completed.stderr
