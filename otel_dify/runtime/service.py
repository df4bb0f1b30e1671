"""The long-running exporter (``otel-dify run``) and the single poll (``otel-dify once``)."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from typing import Callable, TextIO, TypeVar

from otel_dify.config import Settings
from otel_dify.health import HealthServer, HealthState
from otel_dify.runtime.assembly import Assembly, assemble
from otel_dify.runtime.poller import PollSummary
from otel_dify.runtime.schedule import Scheduler
from otel_dify.snapshot import SnapshotHolder
from otel_dify.telemetry import Telemetry, create_telemetry

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1

T = TypeVar("T")


class _StopSignals:
    """SIGTERM and SIGINT handling: the first signal starts a graceful stop, and a second one forces exit 1."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stop = asyncio.Event()
        self.forced = asyncio.Event()
        self.received_at: float | None = None
        self._loop = loop

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(signum, self._handle, signum)

    def remove(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._loop.remove_signal_handler(signum)

    def _handle(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.stop.is_set():
            logger.warning("second stop signal; exiting without waiting", extra={"signal": name})
            self.forced.set()
            return
        logger.info("stop signal received; no new poll starts, and a poll in flight may finish", extra={"signal": name})
        self.received_at = time.monotonic()
        self.stop.set()


#: Extra wait past a flush or shutdown timeout before the exporter gives up on it.
_BLOCKING_CALL_MARGIN_S = 1.0


def _in_daemon_thread(function: Callable[[], T]) -> asyncio.Future[T]:
    """Run a blocking call on a daemon thread and return a future of its result.

    The OTLP exporters may block past the timeout they are given (the HTTP
    exporter's request runs until its own timeout). A call on the loop's
    default executor would hold the process at exit, because asyncio.run
    joins that executor; a daemon thread ends with the process.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result = function()
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting coroutine
            loop.call_soon_threadsafe(deliver, None, error)
        else:
            loop.call_soon_threadsafe(deliver, result, None)

    threading.Thread(target=target, name="otel-dify-export", daemon=True).start()
    return future


async def _bounded(function: Callable[[], T], timeout_s: float) -> tuple[bool, T | None]:
    """Await ``function`` on a daemon thread for at most ``timeout_s`` plus a margin.

    Returns (True, result) when it finished in time, (False, None) otherwise;
    the thread then keeps running until the process ends.
    """
    try:
        result = await asyncio.wait_for(
            asyncio.shield(_in_daemon_thread(function)), timeout_s + _BLOCKING_CALL_MARGIN_S
        )
    except asyncio.TimeoutError:
        return False, None
    return True, result


async def _flush(telemetry: Telemetry, timeout_s: float) -> bool:
    finished, exported = await _bounded(lambda: telemetry.force_flush(timeout_s), timeout_s)
    return bool(finished and exported)


async def _shutdown_telemetry(telemetry: Telemetry, timeout_s: float) -> bool:
    """Export once more and shut the pipeline down; return False when that did not end in time."""
    finished, _ = await _bounded(lambda: telemetry.shutdown(timeout_s), timeout_s)
    if not finished:
        logger.error("final export did not finish within the shutdown timeout", extra={"timeout_s": timeout_s})
    return finished


async def run_service(settings: Settings, *, telemetry: Telemetry | None = None) -> int:
    """Poll Dify at the configured interval until SIGTERM or SIGINT; return the exit code.

    After the first signal no new poll starts, and the poll in flight may
    finish. Then the pipeline exports once more and shuts down. The exit code
    is 0 when all of this ends within ``shutdown_timeout``. It is 1 when the
    timeout passes first (the poll or the final export is abandoned) or a
    second signal arrives.
    """
    loop = asyncio.get_running_loop()
    holder = SnapshotHolder()
    if telemetry is None:
        telemetry = create_telemetry(settings, holder)
    assembly = await _assemble_or_stop(settings, holder, telemetry)

    health_state = HealthState(poll_interval_s=settings.poll_interval, reason="no poll has finished yet")
    health = HealthServer(settings.health_host, settings.health_port, health_state)
    signals = _StopSignals(loop)

    async def after_poll(summary: PollSummary) -> None:
        now = time.monotonic()
        health_state.loop_heartbeat = now
        if summary.succeeded:
            health_state.last_success = now
            health_state.reason = ""
        else:
            health_state.reason = "; ".join(assembly.poller.failing_reasons()) or "the last poll failed"
        if settings.export_on_poll:
            await _flush(telemetry, min(settings.request_timeout, 10.0))

    scheduler = Scheduler(
        assembly.poller.poll_once,
        interval_s=settings.poll_interval,
        initial_delay_s=settings.initial_delay,
        after_poll=after_poll,
    )

    await health.start()
    signals.install()
    health_state.loop_heartbeat = time.monotonic()
    heartbeat = asyncio.create_task(_beat(health_state, signals.stop))
    logger.info(
        "exporter started", extra={"workspaces": len(assembly.clients), "poll_interval_s": settings.poll_interval}
    )

    exit_code = EXIT_OK
    poll_task = asyncio.create_task(scheduler.run(signals.stop))
    try:
        exit_code = await _wait_for_stop(poll_task, signals, settings.shutdown_timeout)
    finally:
        heartbeat.cancel()
        signals.remove()
        remaining = _remaining(signals, settings.shutdown_timeout)
        if exit_code == EXIT_OK:
            if not await _shutdown_telemetry(telemetry, remaining):
                exit_code = EXIT_FAILURE
        else:
            # Still try one export, but do not wait long: the exit is already late.
            await _shutdown_telemetry(telemetry, min(remaining, 2.0))
        await assembly.close()
        await health.stop()
        logger.info("exporter stopped", extra={"exit_code": exit_code})
    return exit_code


async def _beat(state: HealthState, stop: asyncio.Event) -> None:
    """Mark the event loop as alive every few seconds, also between polls."""
    while not stop.is_set():
        state.loop_heartbeat = time.monotonic()
        try:
            await asyncio.wait_for(stop.wait(), timeout=5.0)
        except asyncio.TimeoutError:
            continue


def _remaining(signals: _StopSignals, shutdown_timeout_s: float) -> float:
    if signals.received_at is None:
        return shutdown_timeout_s
    return max(0.5, shutdown_timeout_s - (time.monotonic() - signals.received_at))


async def _wait_for_stop(poll_task: asyncio.Task[None], signals: _StopSignals, shutdown_timeout_s: float) -> int:
    """Wait until the poll loop ends after a stop signal; return the exit code."""
    stop_wait = asyncio.create_task(signals.stop.wait())
    done, _ = await asyncio.wait({poll_task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    if poll_task in done:
        stop_wait.cancel()
        poll_task.result()  # the loop only ends by itself on an unexpected error: re-raise it
        return EXIT_OK

    forced_wait = asyncio.create_task(signals.forced.wait())
    done, _ = await asyncio.wait(
        {poll_task, forced_wait}, timeout=shutdown_timeout_s, return_when=asyncio.FIRST_COMPLETED
    )
    forced_wait.cancel()
    if poll_task in done:
        poll_task.result()
        return EXIT_OK

    reason = "second stop signal" if signals.forced.is_set() else "shutdown timeout"
    logger.error("poll in flight cancelled", extra={"reason": reason, "shutdown_timeout_s": shutdown_timeout_s})
    poll_task.cancel()
    try:
        await poll_task
    except asyncio.CancelledError:
        pass
    return EXIT_FAILURE


async def run_once(settings: Settings, *, console: bool = False, console_stream: TextIO | None = None) -> int:
    """Poll once, export once, shut down; return 0 when every workspace was polled without error."""
    holder = SnapshotHolder()
    telemetry = create_telemetry(settings, holder, console=console, console_stream=console_stream)
    assembly = await _assemble_or_stop(settings, holder, telemetry)
    try:
        summary = await assembly.poller.poll_once()
        exported = await _flush(telemetry, settings.shutdown_timeout)
    finally:
        await _shutdown_telemetry_without_export(telemetry, settings.shutdown_timeout)
        await assembly.close()

    if not exported:
        logger.error("metrics export failed")
    return EXIT_OK if summary.succeeded and exported else EXIT_FAILURE


async def _assemble_or_stop(settings: Settings, holder: SnapshotHolder, telemetry: Telemetry) -> Assembly:
    """Assemble the exporter; when that raises (a state directory in use), stop the telemetry pipeline first."""
    try:
        return assemble(settings, holder, durations=telemetry)
    except Exception:
        await _shutdown_telemetry_without_export(telemetry, settings.shutdown_timeout)
        raise


async def _shutdown_telemetry_without_export(telemetry: Telemetry, timeout_s: float) -> None:
    await _bounded(lambda: telemetry.shutdown(timeout_s, final_export=False), timeout_s)
