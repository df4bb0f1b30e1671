"""The benchmark's control routes on the simulator's server, and the worker's client for them.

The exporter worker calls these routes between polls, outside its timed CPU
window, on the simulator's own 127.0.0.1 server:

``POST /bench/workflow-runs`` with ``{"runs": N}``
    Adds N finished workflow runs created up to ``RUN_AGE_S`` before the
    request (see ``bench/traffic.py``) and returns
    ``{"runs", "llm_calls", "input_tokens", "output_tokens"}``: exactly what it added.
``GET /bench/server-time``
    Returns ``{"requests", "handler_s", "cpu_s"}``: the Dify requests served
    so far, the seconds their handlers took in all, as the latency middleware
    measures them, and the simulator process's CPU time (user + system).

Paths under ``/bench/`` are no Dify endpoints. The latency middleware
neither delays nor times them, so they do not change the server-time figures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import aiohttp
from aiohttp import web

# NOTE: this module is imported by the exporter worker, whose resident memory
# the benchmark measures, so it must not import the simulator.

logger = logging.getLogger(__name__)

#: Prefix of every control path.
CONTROL_PREFIX = "/bench/"
ADD_RUNS_PATH = "/bench/workflow-runs"
SERVER_TIME_PATH = "/bench/server-time"

#: Most runs one control request may add, to keep one request's work on the simulator bounded.
MAX_RUNS_PER_REQUEST = 100_000

#: Seconds the worker waits for a control response.
CONTROL_TIMEOUT_S = 60.0

#: How long before the request the added runs were created, in seconds. The
#: exporter's window ends at its poll's start in whole seconds, and Dify
#: compares ``created_at__before`` with the exact creation time, so a poll
#: leaves out runs created later in the second it started in. The next poll
#: reads them. Dating the runs one second back makes the poll right after
#: the request list all of them.
RUN_AGE_S = 1.0


class ControlError(RuntimeError):
    """A control request failed or returned an unexpected body."""


@dataclass(frozen=True)
class AddedRuns:
    """Counts of one request to add runs: runs, LLM node executions and their tokens."""

    runs: int
    llm_calls: int
    input_tokens: int
    output_tokens: int

    def as_dict(self) -> dict[str, int]:
        return {
            "runs": self.runs,
            "llm_calls": self.llm_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


@dataclass(frozen=True)
class ServerTime:
    """Dify requests served, the seconds their handlers took in all, and the simulator's CPU seconds.

    ``handler_s`` is wall time from handler start to response. ``cpu_s``
    is the simulator process's CPU time, which also covers what aiohttp does
    outside the handlers and the control requests.
    """

    requests: int
    handler_s: float
    cpu_s: float = 0.0

    def since(self, earlier: ServerTime) -> ServerTime:
        """Return the requests, handler time and CPU time between ``earlier`` and this reading."""
        return ServerTime(
            self.requests - earlier.requests, self.handler_s - earlier.handler_s, self.cpu_s - earlier.cpu_s
        )

    @property
    def mean_s(self) -> float | None:
        """Mean handler time per request, in seconds; None without requests."""
        return self.handler_s / self.requests if self.requests else None


def register_control_routes(
    app: web.Application, add_runs_now: Callable[[int], AddedRuns], server_time: Callable[[], ServerTime]
) -> None:
    """Add the control routes to ``app``.

    ``add_runs_now`` adds that many runs (``RunTraffic.add``), and
    ``server_time`` returns the latency middleware's totals.
    """

    async def add_runs(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        count = body.get("runs") if isinstance(body, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_RUNS_PER_REQUEST:
            message = f"runs must be an integer from 0 to {MAX_RUNS_PER_REQUEST}, got {count!r}"
            return web.json_response({"error": message}, status=400)
        return web.json_response(add_runs_now(count).as_dict())

    async def read_server_time(request: web.Request) -> web.Response:
        reading = server_time()
        return web.json_response({"requests": reading.requests, "handler_s": reading.handler_s, "cpu_s": reading.cpu_s})

    app.router.add_post(ADD_RUNS_PATH, add_runs)
    app.router.add_get(SERVER_TIME_PATH, read_server_time)


class SimulatorControl:
    """The worker's client of the control routes at ``base_url`` (``http://127.0.0.1:PORT``).

    Call :meth:`close` when done; a second call does nothing. Every method
    raises ControlError when the request fails or the body has another shape.
    """

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def add_runs(self, count: int) -> AddedRuns:
        """Ask the simulator to add ``count`` finished runs and return what it added."""
        body = await self._request("POST", ADD_RUNS_PATH, {"runs": count})
        try:
            return AddedRuns(
                runs=int(body["runs"]),
                llm_calls=int(body["llm_calls"]),
                input_tokens=int(body["input_tokens"]),
                output_tokens=int(body["output_tokens"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ControlError(f"unexpected body from {ADD_RUNS_PATH}: {body!r}") from error

    async def server_time(self) -> ServerTime:
        """Return the simulator's Dify requests and handler seconds so far."""
        body = await self._request("GET", SERVER_TIME_PATH, None)
        try:
            return ServerTime(
                requests=int(body["requests"]), handler_s=float(body["handler_s"]), cpu_s=float(body["cpu_s"])
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ControlError(f"unexpected body from {SERVER_TIME_PATH}: {body!r}") from error

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, path: str, payload: dict[str, Any] | None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CONTROL_TIMEOUT_S))
        url = self._base_url + path
        try:
            async with self._session.request(method, url, json=payload) as response:
                if response.status != 200:
                    text = await response.text()
                    raise ControlError(f"{method} {path} returned HTTP {response.status}: {text[:200]}")
                return await response.json()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ControlError(f"{method} {path} failed: {error!r}") from error
