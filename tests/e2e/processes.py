"""Start ``otel-dify`` as a subprocess with its stdout and stderr captured to files, and wait for conditions."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Mapping

from tests.e2e.ledger import OutputLedger

# Messages of the exporter's log lines that the tests wait for.
POLL_FINISHED = "poll finished"
STOP_RECEIVED = "stop signal received; no new poll starts, and a poll in flight may finish"
SECOND_STOP = "second stop signal; exiting without waiting"
EXPORTER_STOPPED = "exporter stopped"

# Generous limits that only bound a hanging test; the conditions usually hold far sooner.
DEFAULT_WAIT_S = 20.0
EXIT_WAIT_S = 30.0

_POLL_STEP_S = 0.02

# Variables of the test runner's environment that the child must not inherit,
# because they would change its configuration.
_INHERITED_PREFIXES_DROPPED = ("OTEL_", "ROTEL_")


async def wait_for(predicate: Callable[[], bool], timeout_s: float = DEFAULT_WAIT_S) -> bool:
    """Check ``predicate`` every 20 ms until it is true or ``timeout_s`` seconds pass; return its last value.

    Sleeps with asyncio, so the simulator in the same event loop keeps serving.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return predicate()
        await asyncio.sleep(_POLL_STEP_S)


def base_environment(**variables: str) -> dict[str, str]:
    """Return the runner's environment without OTEL_* and ROTEL_* variables, plus ``variables``.

    ``PYTHONUNBUFFERED`` is set so that every line reaches the output file at once.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(_INHERITED_PREFIXES_DROPPED)
    }
    environment["PYTHONUNBUFFERED"] = "1"
    environment.update(variables)
    return environment


@dataclass
class ExporterProcess:
    """One ``python -m otel_dify`` subprocess whose stdout and stderr go to files."""

    name: str
    process: asyncio.subprocess.Process
    stdout_path: Path
    stderr_path: Path

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, object]]:
        """Return the JSON log lines of stdout and stderr, stdout first; other lines are skipped."""
        records = []
        for text in (self.stdout(), self.stderr()):
            for line in text.splitlines():
                if not line.startswith("{"):
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records

    def messages(self) -> list[str]:
        """Return the ``message`` field of every JSON log line, in output order per stream."""
        return [str(record.get("message")) for record in self.log_records()]

    def count_messages(self, message: str) -> int:
        return self.messages().count(message)

    def last_time_ns(self, message: str) -> int:
        """Return the ``timestamp`` of the last log line with ``message`` in Unix nanoseconds (millisecond precision).

        Raises AssertionError when no line has that message.
        """
        stamps = [record["timestamp"] for record in self.log_records() if record.get("message") == message]
        assert stamps, f"log message {message!r} not found\n{self.describe()}"
        logged_at = datetime.fromisoformat(str(stamps[-1]).replace("Z", "+00:00"))
        return int(logged_at.timestamp() * 1000) * 1_000_000

    def describe(self) -> str:
        """Return the exit code and the end of both outputs, for assertion messages."""
        return (
            f"{self.name}: exit code {self.returncode}\n"
            f"--- stdout (end) ---\n{self.stdout()[-4000:]}\n"
            f"--- stderr (end) ---\n{self.stderr()[-4000:]}"
        )

    def send_signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    async def wait(self, timeout_s: float = EXIT_WAIT_S) -> int:
        """Wait for the exit and return the exit code; raise AssertionError after ``timeout_s`` seconds."""
        try:
            return await asyncio.wait_for(self.process.wait(), timeout_s)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.name} did not exit within {timeout_s} s\n{self.describe()}") from None

    async def kill(self) -> None:
        """Kill the process unless it has exited, and reap it. A second call does nothing."""
        if self.process.returncode is None:
            try:
                self.process.kill()
            except ProcessLookupError:
                pass
        await self.process.wait()


class Launcher:
    """Starts ``otel-dify`` subprocesses in ``workdir`` and kills those still running at :meth:`close`.

    The working directory is a fresh temporary one, so no ``.env`` file is
    read. Every output file is registered with ``ledger`` for the secret scan.
    """

    def __init__(self, workdir: Path, ledger: OutputLedger) -> None:
        self._workdir = workdir
        self._ledger = ledger
        self._processes: list[ExporterProcess] = []

    async def start(self, *arguments: str, environment: Mapping[str, str], name: str | None = None) -> ExporterProcess:
        """Start ``python -m otel_dify ARGUMENTS`` with exactly ``environment``."""
        name = name or "-".join(arguments) or "run"
        index = len(self._processes)
        stdout_path = self._workdir / f"{index:02d}-{name}.stdout"
        stderr_path = self._workdir / f"{index:02d}-{name}.stderr"
        self._ledger.add_output(stdout_path)
        self._ledger.add_output(stderr_path)

        with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "otel_dify",
                *arguments,
                env=dict(environment),
                cwd=self._workdir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        started = ExporterProcess(name, process, stdout_path, stderr_path)
        self._processes.append(started)
        return started

    async def run(
        self, *arguments: str, environment: Mapping[str, str], name: str | None = None, timeout_s: float = EXIT_WAIT_S
    ) -> ExporterProcess:
        """Start a command and wait for its exit; raise AssertionError when it runs longer than ``timeout_s``."""
        process = await self.start(*arguments, environment=environment, name=name)
        await process.wait(timeout_s)
        return process

    async def close(self) -> None:
        """Kill every process that is still running."""
        for process in self._processes:
            await process.kill()


async def wait_for_message(process: ExporterProcess, message: str, count: int = 1, timeout_s: float = DEFAULT_WAIT_S) -> None:
    """Wait until ``message`` appeared ``count`` times in the log.

    Raises AssertionError, with the output, after ``timeout_s`` seconds or
    as soon as the process exits without having logged it.
    """

    def logged() -> bool:
        return process.count_messages(message) >= count

    await wait_for(lambda: logged() or process.returncode is not None, timeout_s)
    assert logged(), f"log message {message!r} did not appear {count} time(s)\n{process.describe()}"

