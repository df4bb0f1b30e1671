"""The short soak run, as a subprocess so that its memory figures are its own: ``python -m bench.soak``.

Marked ``soak``: deselect with ``-m "not soak"``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import base_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
SHORT_POLLS = 500


def run_soak(*arguments: str, timeout_s: float = 600.0) -> tuple[int, dict[str, Any], str]:
    """Run ``python -m bench.soak --json ARGUMENTS`` and return the exit code, the summary and stderr."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--json", *arguments],
        cwd=REPO_ROOT,
        env=base_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    lines = completed.stdout.strip().splitlines()
    assert lines, f"no summary on stdout; exit code {completed.returncode}\n{completed.stderr[-4000:]}"
    return completed.returncode, json.loads(lines[-1]), completed.stderr


@pytest.mark.soak
def test_short_soak_passes():
    exit_code, summary, stderr = run_soak("--polls", str(SHORT_POLLS), "--seed", "3")

    assert summary["failures"] == [], stderr[-4000:]
    assert exit_code == 0
    assert summary["polls"] == SHORT_POLLS
    assert summary["failed_polls"] > 0
    assert len(summary["episodes"]) >= 5
    assert summary["faulted_requests"] > 0
    assert summary["checkpoints"] > 0
    assert summary["rss_growth_percent"] <= 2.0


@pytest.mark.soak
def test_soak_failure_exits_1():
    # A negative growth limit cannot be met, so the run must report a failure.
    exit_code, summary, _stderr = run_soak("--polls", "30", "--seed", "5", "--max-rss-growth", "-1")

    assert exit_code == 1
    assert any("resident memory grew" in failure for failure in summary["failures"])
