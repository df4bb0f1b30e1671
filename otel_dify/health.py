"""HTTP health endpoints for container orchestrators, and the probe that the image's healthcheck runs.

``GET /healthz`` (liveness) returns 200 while the poll loop is alive, that
is while its heartbeat is younger than ``max(3 * poll_interval_s, 60 s)``.
Before the first heartbeat the age counts from the server start, so a slow
first poll does not get the process killed.

``GET /readyz`` (readiness) returns 200 once a poll has succeeded and the
last success is younger than ``3 * poll_interval_s``. A Dify that cannot be
reached, or rejects the credentials, thus makes the exporter not ready
without making it dead: restarting it would not help.

Both return a small JSON object, with 503 when the check fails, to GET and
HEAD. Any other path returns 404, and another method 405. Each response
closes its connection; see :mod:`otel_dify.runtime.http_server` for the
limits on the request.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    # Imported at run time by the server code only: the module loads asyncio
    # and with it ssl (about 9 MB), which ``otel-dify healthcheck`` does not need.
    from otel_dify.runtime.http_server import HttpResponse

logger = logging.getLogger(__name__)

STALE_AFTER_INTERVALS = 3
MIN_LIVENESS_WINDOW_S = 60.0

HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

# Addresses a server binds to but a client cannot connect to, and the
# loopback address that reaches such a server from the same host.
_WILDCARD_TO_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}

Clock = Callable[[], float]


@dataclass
class HealthState:
    """The state of the poll loop, which the runtime updates in place.

    Times are readings of the server's clock (``time.monotonic`` unless the
    server was given another one), never wall-clock time.
    """

    poll_interval_s: float
    # Clock reading of the poll loop's last tick; None before the first one.
    loop_heartbeat: float | None = None
    # Clock reading of the end of the last successful poll; None before the first one.
    last_success: float | None = None
    # Why the exporter is not ready, for example "authentication failed";
    # empty when there is nothing to say beyond the ages.
    reason: str = ""


@dataclass(frozen=True)
class HealthReport:
    """The status code and JSON body of one health response."""

    status_code: int
    body: dict[str, object]


def liveness_window_s(poll_interval_s: float) -> float:
    """Return the heartbeat age, in seconds, after which the loop counts as stalled."""
    return max(STALE_AFTER_INTERVALS * poll_interval_s, MIN_LIVENESS_WINDOW_S)


def readiness_window_s(poll_interval_s: float) -> float:
    """Return the age of the last success, in seconds, after which the exporter is not ready."""
    return STALE_AFTER_INTERVALS * poll_interval_s


def check_liveness(state: HealthState, now: float, started: float) -> HealthReport:
    """Judge liveness at clock reading ``now`` for a server that started at ``started``."""
    last_beat = state.loop_heartbeat if state.loop_heartbeat is not None else started
    age_s = now - last_beat
    if age_s < liveness_window_s(state.poll_interval_s):
        return HealthReport(200, {"status": "ok"})
    return HealthReport(
        503,
        {
            "status": "stalled",
            "reason": f"poll loop has not ticked for {age_s:.0f} s",
            "heartbeat_age_s": round(age_s, 3),
        },
    )


def check_readiness(state: HealthState, now: float) -> HealthReport:
    """Judge readiness at clock reading ``now``."""
    if state.last_success is None:
        return HealthReport(503, {"status": "not ready", "reason": state.reason or "no successful poll yet"})

    age_s = now - state.last_success
    window_s = readiness_window_s(state.poll_interval_s)
    if age_s < window_s:
        return HealthReport(200, {"status": "ready", "last_success_age_s": round(age_s, 3)})

    default_reason = (
        f"last successful poll was {age_s:.0f} s ago, "
        f"more than {STALE_AFTER_INTERVALS} poll intervals ({window_s:.0f} s)"
    )
    return HealthReport(
        503,
        {
            "status": "not ready",
            "reason": state.reason or default_reason,
            "last_success_age_s": round(age_s, 3),
        },
    )


class HealthServer:
    """A server for ``/healthz`` and ``/readyz`` on :class:`~otel_dify.runtime.http_server.SmallHttpServer`.

    ``port`` 0 binds a free port; :attr:`port` returns the bound one after
    :meth:`start`. It logs no access lines, because probes arrive every few
    seconds. ``read_timeout_s`` (seconds) and ``max_head_bytes`` bound each
    request, with the defaults of the HTTP server module.
    """

    def __init__(
        self,
        host: str,
        port: int,
        state: HealthState,
        *,
        clock: Clock = time.monotonic,
        read_timeout_s: float = 5.0,
        max_head_bytes: int = 8192,
    ) -> None:
        from otel_dify.runtime.http_server import SmallHttpServer

        self._host = host
        self._requested_port = port
        self._state = state
        self._clock = clock
        self._http = SmallHttpServer(
            host,
            port,
            {HEALTHZ_PATH: self._healthz, READYZ_PATH: self._readyz},
            name="health server",
            read_timeout_s=read_timeout_s,
            max_head_bytes=max_head_bytes,
        )
        self._started: float | None = None
        self._running = False

    @property
    def port(self) -> int:
        """The bound TCP port. Raises RuntimeError before :meth:`start`."""
        if not self._running:
            raise RuntimeError("health server is not started; call start() first")
        return self._http.port

    async def start(self) -> None:
        """Bind and start serving.

        Raises RuntimeError when already started and OSError when the address
        cannot be bound (for example, the port is in use).
        """
        if self._running:
            raise RuntimeError("health server is already started")

        # Set before the socket opens, because a probe may arrive at once.
        self._started = self._clock()

        try:
            await self._http.start()
        except OSError as error:
            logger.error(
                "health server could not bind",
                extra={"host": self._host, "port": self._requested_port, "error_type": type(error).__name__},
            )
            raise

        self._running = True
        logger.info("health server started", extra={"host": self._host, "port": self._http.port})

    async def stop(self) -> None:
        """Stop serving. Does nothing when not started or already stopped."""
        if not self._running:
            return

        port = self._http.port
        self._running = False
        await self._http.stop()
        logger.info("health server stopped", extra={"host": self._host, "port": port})

    def _healthz(self) -> HttpResponse:
        now = self._clock()
        started = self._started if self._started is not None else now
        return _json_response(check_liveness(self._state, now, started))

    def _readyz(self) -> HttpResponse:
        return _json_response(check_readiness(self._state, self._clock()))


def _json_response(report: HealthReport) -> HttpResponse:
    from otel_dify.runtime.http_server import HttpResponse

    return HttpResponse(report.status_code, json.dumps(report.body).encode(), JSON_CONTENT_TYPE)


def probe(host: str, port: int, timeout_s: float = 3.0, path: str = HEALTHZ_PATH) -> int:
    """Request ``path`` from a running health server and return a process exit code.

    Returns 0 when the server responds with 200 and 1 otherwise: another
    status, a refused or timed-out connection, or an invalid HTTP response. A wildcard bind
    address (``0.0.0.0``, ``::``) is replaced by the loopback address of the
    same family, so the probe works with the container's setting.
    ``timeout_s`` bounds the connection and each read.
    """
    target_host = _WILDCARD_TO_LOOPBACK.get(host, host)
    connection = http.client.HTTPConnection(target_host, port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        # The URL and cause go into the message too, because the healthcheck
        # command configures no log formatter that would print the extra fields.
        logger.warning(
            "health probe of %s failed: %s",
            _probe_url(target_host, port, path),
            str(error) or type(error).__name__,
            extra={"host": target_host, "port": port, "endpoint": path, "error_type": type(error).__name__},
        )
        return 1
    finally:
        connection.close()

    if status != 200:
        logger.warning(
            "health probe of %s failed: HTTP status %s",
            _probe_url(target_host, port, path),
            status,
            extra={"host": target_host, "port": port, "endpoint": path, "http_status": status},
        )
        return 1
    return 0


def _probe_url(host: str, port: int, path: str) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{path}"
