"""Start and stop the benchmark's child processes: the simulator and the exporter workers.

Every child gets an environment without the caller's ``OTEL_*`` variables, so
a configured exporter on the benchmark machine cannot change the figures,
and ``PYTHONPATH`` pointing at this checkout, so ``bench`` and ``otel_dify``
import from here.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from otel_dify.simulator import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD

logger = logging.getLogger(__name__)

#: The checkout that contains ``bench/`` and ``otel_dify/``.
REPO_ROOT = Path(__file__).resolve().parent.parent

#: Seconds a child gets to exit after SIGTERM before it is killed: more than the
#: exporter's default OTEL_DIFY_SHUTDOWN_TIMEOUT of 30 s.
STOP_TIMEOUT_S = 40.0

#: Record levels that the records run turns on in addition to those in the exporter settings.
RECORDS_RUN_LEVELS = ("workflow_runs", "llm_usage")


class BenchmarkError(RuntimeError):
    """A child process failed, so a figure could not be measured."""


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return this process's environment without ``OTEL_*`` variables, plus ``extra``."""
    environ = {name: value for name, value in os.environ.items() if not name.upper().startswith("OTEL_")}
    python_path = [str(REPO_ROOT)]
    if environ.get("PYTHONPATH"):
        python_path.append(environ["PYTHONPATH"])
    environ["PYTHONPATH"] = os.pathsep.join(python_path)
    environ.update(extra or {})
    return environ


def exporter_environment(base_url: str, *, max_concurrency: int) -> dict[str, str]:
    """Return the ``OTEL_DIFY_*`` settings of an exporter that polls the simulator at ``base_url``.

    The login is the simulator's generated admin account (a fake demo
    credential), and the health server takes a free port.
    """
    return {
        "OTEL_DIFY_BASE_URL": base_url,
        "OTEL_DIFY_EMAIL": DEFAULT_ADMIN_EMAIL,
        "OTEL_DIFY_PASSWORD": DEFAULT_ADMIN_PASSWORD,
        "OTEL_DIFY_MAX_CONCURRENCY": str(max_concurrency),
        "OTEL_DIFY_HEALTH_PORT": "0",
    }


def records_run_settings(settings: Mapping[str, str], statistics_metrics: frozenset[str]) -> dict[str, str]:
    """Return exporter ``settings`` changed for the records run.

    The levels in ``RECORDS_RUN_LEVELS`` join those of
    ``OTEL_DIFY_RECORDS_ENABLED`` (where ``none`` adds nothing). The
    ``statistics_metrics`` are disabled, and removed from
    ``OTEL_DIFY_METRICS_ENABLED``, so that a poll makes no statistics
    requests and its CPU time is spent on record collection. Other settings
    pass through.
    """
    changed = dict(settings)

    levels = [name for name in _names(settings.get("OTEL_DIFY_RECORDS_ENABLED", "")) if name.lower() != "none"]
    levels += [level for level in RECORDS_RUN_LEVELS if level not in levels]
    changed["OTEL_DIFY_RECORDS_ENABLED"] = ",".join(levels)

    enabled = [name for name in _names(settings.get("OTEL_DIFY_METRICS_ENABLED", "")) if name not in statistics_metrics]
    disabled = _names(settings.get("OTEL_DIFY_METRICS_DISABLED", ""))
    disabled += sorted(statistics_metrics - set(disabled))
    changed["OTEL_DIFY_METRICS_ENABLED"] = ",".join(enabled)
    changed["OTEL_DIFY_METRICS_DISABLED"] = ",".join(disabled)
    return changed


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def stop_process(process: subprocess.Popen[Any], timeout_s: float = STOP_TIMEOUT_S) -> int:
    """Send SIGTERM, wait up to ``timeout_s`` seconds, then kill; return the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning("child did not stop after SIGTERM; killing it", extra={"pid": process.pid})
            process.kill()
    return process.wait()


@dataclass
class SimulatorProcess:
    """A running ``bench.sim_server``; use it as a context manager."""

    apps: int
    latency_ms: float
    seed: int
    days: int
    log_path: Path
    cache: bool = True
    base_url: str = ""
    token_ttl_s: float = 3600.0
    _process: subprocess.Popen[str] | None = None

    def __enter__(self) -> SimulatorProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, ready_timeout_s: float = 120.0) -> None:
        """Start the simulator and wait for its ready line; raise BenchmarkError when it does not come."""
        command = [
            sys.executable, "-m", "bench.sim_server",
            "--apps", str(self.apps),
            "--latency-ms", str(self.latency_ms),
            "--seed", str(self.seed),
            "--days", str(self.days),
        ]
        if not self.cache:
            command.append("--no-cache")
        with self.log_path.open("w") as log:
            self._process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log, text=True, env=child_environment(), cwd=REPO_ROOT
            )
        line = _read_line(self._process, ready_timeout_s)
        if not line:
            status = self._process.poll()
            self.stop()
            if status is not None:
                raise BenchmarkError(f"the simulator exited with status {status} before it was ready; see {self.log_path}")
            raise BenchmarkError(f"the simulator was not ready within {ready_timeout_s:.0f} s; see {self.log_path}")
        ready = json.loads(line)
        self.base_url = ready["base_url"]
        self.token_ttl_s = float(ready["token_ttl_s"])

    def stop(self) -> None:
        """Stop the simulator; a second call does nothing."""
        if self._process is not None:
            stop_process(self._process)
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None


def _read_line(process: subprocess.Popen[str], timeout_s: float) -> str:
    """Return the first stdout line of ``process``; "" when it exits first or no line comes within ``timeout_s``."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True)
    reader.start()
    try:
        return lines.get(timeout=timeout_s)
    except queue.Empty:
        return ""


def run_worker(
    arguments: list[str],
    *,
    settings: Mapping[str, str],
    otlp_endpoint: str,
    protocol: str,
    log_path: Path,
) -> dict[str, Any]:
    """Run ``python -m bench.worker ARGUMENTS`` to completion and return its JSON result.

    ``settings`` are the worker's ``OTEL_DIFY_*`` variables. The worker
    exports to ``otlp_endpoint`` over ``protocol``, and its logs go to
    ``log_path``. Raises BenchmarkError when it exits with an error.
    """
    environ = child_environment(
        {
            **settings,
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": protocol,
        }
    )
    with log_path.open("w") as log:
        completed = subprocess.run(
            [sys.executable, "-m", "bench.worker", *arguments],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=environ,
            cwd=REPO_ROOT,
            check=False,
        )
    if completed.returncode != 0:
        raise BenchmarkError(f"the exporter worker exited with {completed.returncode}; see {log_path}")
    return json.loads(completed.stdout)
