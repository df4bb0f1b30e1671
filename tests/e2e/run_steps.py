"""Steps that the process-level tests share: start ``otel-dify run``, wait for polls and exports, stop it with SIGTERM.

The end-to-end and the fault suites both drive one subprocess through these
steps. Every wait here ends with a bound, so a hanging process fails the
test instead of holding it.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass

from otel_dify.simulator import DifySimulator
from tests.e2e.environment import exporter_environment
from tests.e2e.expectations import MESSAGES, newest_point_ns
from tests.e2e.processes import (
    DEFAULT_WAIT_S,
    EXIT_WAIT_S,
    POLL_FINISHED,
    ExporterProcess,
    Launcher,
    wait_for,
    wait_for_message,
)
from tests.otlp_sink import OtlpSink


@dataclass(frozen=True)
class Exit:
    """Exit code and timing of a process stopped with SIGTERM."""

    code: int
    #: Seconds from the signal to the exit, on the test's monotonic clock.
    seconds: float
    #: Wall-clock time just before the signal, as ``time.time_ns()``, to compare with OTLP point times.
    sent_ns: int


@dataclass(frozen=True)
class Stop:
    """A SIGTERM sent to ``process``, with the time it was sent on both clocks."""

    process: ExporterProcess
    #: Wall-clock time just before the signal, as ``time.time_ns()``, to compare with OTLP point times.
    sent_ns: int
    #: ``time.monotonic()`` just before the signal.
    sent_monotonic: float

    async def exit(self, timeout_s: float = EXIT_WAIT_S) -> Exit:
        """Wait for the exit. Raises AssertionError, with the output, after ``timeout_s`` seconds."""
        code = await self.process.wait(timeout_s)
        return Exit(code=code, seconds=time.monotonic() - self.sent_monotonic, sent_ns=self.sent_ns)


async def start_run(
    launcher: Launcher, simulator: DifySimulator, base_url: str, *, name: str | None = None, **variables: str
) -> ExporterProcess:
    """Start ``otel-dify run`` against the simulator at ``base_url``.

    The environment is :func:`tests.e2e.environment.exporter_environment`
    with ``variables`` (full names) on top. Returns at once, without waiting
    for a poll.
    """
    environment = exporter_environment(simulator, base_url, **variables)
    return await launcher.start("run", environment=environment, name=name)


async def wait_for_next_polls(process: ExporterProcess, count: int = 1, timeout_s: float = DEFAULT_WAIT_S) -> None:
    """Wait until ``count`` more polls than now have finished. Raises AssertionError like :func:`wait_for_message`."""
    polls = process.count_messages(POLL_FINISHED)
    await wait_for_message(process, POLL_FINISHED, count=polls + count, timeout_s=timeout_s)


async def wait_for_export_after(sink: OtlpSink, time_ns: int, timeout_s: float = DEFAULT_WAIT_S) -> bool:
    """Return whether a ``dify.app.messages`` point newer than ``time_ns`` (wall clock) reaches the sink in time."""
    return await wait_for(lambda: newest_point_ns(sink, MESSAGES) > time_ns, timeout_s)


def send_sigterm(process: ExporterProcess) -> Stop:
    """Send SIGTERM to ``process`` and return at once with the send time. :meth:`Stop.exit` waits for the exit."""
    sent_ns = time.time_ns()
    sent_monotonic = time.monotonic()
    process.send_signal(signal.SIGTERM)
    return Stop(process, sent_ns, sent_monotonic)


async def stop(process: ExporterProcess, timeout_s: float = EXIT_WAIT_S) -> Exit:
    """Send SIGTERM and wait for the exit. Raises AssertionError when it takes longer than ``timeout_s`` seconds."""
    return await send_sigterm(process).exit(timeout_s)


def messages_from(process: ExporterProcess, message: str) -> list[str]:
    """Return the log messages from the first ``message`` on, that one included.

    Raises AssertionError, with the output, when ``message`` was never logged.
    """
    messages = process.messages()
    assert message in messages, f"log message {message!r} not found\n{process.describe()}"
    return messages[messages.index(message) :]
