"""Time from starting ``python -m otel_dify run`` to the first export the sink receives."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Mapping

from bench.procstats import rss_bytes
from bench.processes import BenchmarkError, child_environment, stop_process
from bench.sinks import Sink

#: Poll and export interval of the measured process: long enough that only
#: the export right after the first poll can arrive first.
QUIET_INTERVAL_S = 3600


@dataclass(frozen=True)
class StartupTimes:
    """Seconds from process start, and the stop time.

    ``started_s`` is when the exporter logged that its loop runs,
    ``first_poll_s`` when it logged the end of the first poll, and ``stop_s``
    the time from SIGTERM to the process's exit. ``rss_after_first_export``
    is the process's resident memory in bytes when the first export arrived.
    """

    first_export_s: float
    started_s: float | None
    first_poll_s: float | None
    stop_s: float
    exit_status: int
    rss_after_first_export: int | None


class _LogWatcher:
    """A reader of the exporter's JSON log lines that notes when the start and the first poll are logged.

    Every line is copied to ``log``. Times are seconds since ``t0`` (monotonic).
    """

    def __init__(self, stream: IO[str], log: IO[str], t0: float) -> None:
        self.started_s: float | None = None
        self.first_poll_s: float | None = None
        self._stream = stream
        self._log = log
        self._t0 = t0
        self._thread = threading.Thread(target=self._read, name="startup-log", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            now = time.monotonic()
            self._log.write(line)
            try:
                message = json.loads(line).get("message")
            except (json.JSONDecodeError, AttributeError):
                continue
            if message == "exporter started" and self.started_s is None:
                self.started_s = now - self._t0
            elif message == "poll finished" and self.first_poll_s is None:
                self.first_poll_s = now - self._t0

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout=timeout_s)


def measure_first_export(
    settings: Mapping[str, str], sink: Sink, *, log_path: Path, timeout_s: float = 600.0
) -> StartupTimes:
    """Start the exporter with the ``OTEL_DIFY_*`` ``settings`` and no initial delay, and wait for its first export.

    Runs in a temporary directory, so no ``.env`` file of the checkout is
    read. Raises BenchmarkError when no export arrives within ``timeout_s``.
    """
    before = sink.arrivals.count
    environ = child_environment(
        {
            **settings,
            "OTEL_DIFY_INITIAL_DELAY": "0",
            "OTEL_DIFY_POLL_INTERVAL": str(QUIET_INTERVAL_S),
            "OTEL_METRIC_EXPORT_INTERVAL": str(QUIET_INTERVAL_S * 1000),
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": sink.protocol,
        }
    )

    with tempfile.TemporaryDirectory(prefix="otel-dify-bench-") as workdir, log_path.open("w") as log:
        t0 = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "otel_dify", "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environ,
            cwd=workdir,
        )
        assert process.stdout is not None
        watcher = _LogWatcher(process.stdout, log, t0)
        rss: int | None = None
        try:
            arrived = sink.arrivals.wait_for_count(before + 1, timeout_s)
            if arrived is not None:
                rss = _rss_of(process.pid)
        finally:
            stop_requested = time.monotonic()
            exit_status = stop_process(process)
            stop_s = time.monotonic() - stop_requested
            watcher.join(timeout_s=5.0)
            process.stdout.close()

    if arrived is None:
        raise BenchmarkError(f"no export arrived within {timeout_s:.0f} s of the exporter's start; see {log_path}")
    return StartupTimes(
        first_export_s=arrived - t0,
        started_s=watcher.started_s,
        first_poll_s=watcher.first_poll_s,
        stop_s=stop_s,
        exit_status=exit_status,
        rss_after_first_export=rss,
    )


def _rss_of(pid: int) -> int | None:
    """Return the resident memory of process ``pid`` in bytes, or None when it has exited."""
    try:
        return rss_bytes(Path(f"/proc/{pid}/status"))
    except (FileNotFoundError, ProcessLookupError, RuntimeError):
        return None
